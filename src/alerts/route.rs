//! Which webhooks receive an event: its kind and severity against `events`/`min_severity`,
//! and the labels of the locations it names against `match = { team = "payments" }`, so each
//! team is paged for its own certificates only. Pure: the labels come in as an index built from
//! the inventory.

use std::collections::HashMap;

use crate::config::alerts::Webhook;
use crate::model::{AlertEvent, LocationRecord};

/// The labels of every location, by each name an event may give it: its target as alerts show
/// it (`host:443 (name)` or `host:443`) and its configured name (the name a managed
/// certificate's events carry).
#[derive(Debug, Default)]
pub struct Labels<'a> {
    by_name: HashMap<String, Vec<&'a [(String, String)]>>,
}

impl<'a> Labels<'a> {
    pub fn index(records: impl IntoIterator<Item = &'a LocationRecord>) -> Labels<'a> {
        let mut by_name: HashMap<String, Vec<&'a [(String, String)]>> = HashMap::new();
        for record in records {
            let labels = record.labels.as_slice();
            if let Some(name) = &record.name {
                by_name
                    .entry(record.alert_target())
                    .or_default()
                    .push(labels);
                by_name.entry(name.clone()).or_default().push(labels);
            }
            by_name
                .entry(record.location.target())
                .or_default()
                .push(labels);
        }
        Labels { by_name }
    }

    /// The label sets of the locations `event` names that the inventory knows.
    fn of(&self, event: &AlertEvent) -> Vec<&'a [(String, String)]> {
        event
            .locations
            .iter()
            .filter_map(|l| self.by_name.get(l))
            .flatten()
            .copied()
            .collect()
    }
}

/// Does `hook` receive `event`? With a `match`, one of the event's locations must carry every
/// matched label. A `resolved` whose locations are all gone from the inventory (removed from
/// the config) cannot be judged by label: it goes to every webhook that takes `resolved`, so no
/// team's alert is left open.
pub fn receives(hook: &Webhook, event: &AlertEvent, labels: &Labels<'_>) -> bool {
    if !hook.wants(&event.kind, event.severity) {
        return false;
    }
    if hook.matches.is_empty() {
        return true;
    }
    let sets = labels.of(event);
    if sets.is_empty() && event.kind == "resolved" {
        return true;
    }
    sets.iter().any(|set| {
        hook.matches
            .iter()
            .all(|(k, v)| set.iter().any(|(lk, lv)| lk == k && lv == v))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::alerts::WebhookFormat;
    use crate::model::{Location, Severity};

    fn record(host: &str, name: Option<&str>, labels: &[(&str, &str)]) -> LocationRecord {
        LocationRecord {
            id: host.into(),
            location: Location::Endpoint {
                host: host.into(),
                port: 443,
                server_name: None,
            },
            name: name.map(String::from),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            first_seen: 0,
            last_scanned: 0,
            leaf_since: None,
            leaf: None,
            tls: None,
            findings: vec![],
            consecutive_failures: 0,
            issuers: vec![],
            adhoc: false,
            trust_store: false,
        }
    }

    fn event(kind: &str, locations: &[&str]) -> AlertEvent {
        AlertEvent {
            locations: locations.iter().map(|l| l.to_string()).collect(),
            kind: kind.into(),
            severity: Severity::Critical,
            ..crate::alerts::test_event(0)
        }
    }

    fn hook(matches: &[(&str, &str)]) -> Webhook {
        Webhook {
            matches: matches
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Webhook::new("h", WebhookFormat::Generic, "https://x.test/")
        }
    }

    #[test]
    fn a_match_routes_by_the_labels_of_the_events_locations() {
        let records = [
            record(
                "pay.example.test",
                Some("pay"),
                &[("team", "payments"), ("env", "prod")],
            ),
            record("www.example.test", None, &[("team", "web")]),
        ];
        let labels = Labels::index(&records);
        let payments = hook(&[("team", "payments")]);
        let prod_payments = hook(&[("team", "payments"), ("env", "prod")]);
        let staging = hook(&[("team", "payments"), ("env", "staging")]);
        let everyone = hook(&[]);
        let pay = event("expired", &["pay.example.test:443 (pay)"]);
        let www = event("expired", &["www.example.test:443"]);
        let both = event(
            "expired",
            &["www.example.test:443", "pay.example.test:443 (pay)"],
        );
        let managed = event("renewal_failed", &["pay"]);
        assert!(receives(&payments, &pay, &labels));
        assert!(receives(&prod_payments, &pay, &labels));
        assert!(!receives(&staging, &pay, &labels), "every label must match");
        assert!(!receives(&payments, &www, &labels));
        assert!(
            receives(&payments, &both, &labels),
            "one matching location is enough"
        );
        assert!(
            receives(&payments, &managed, &labels),
            "by the configured name"
        );
        assert!(receives(&everyone, &www, &labels));
        // A condition at a location the inventory does not know is not any team's.
        assert!(!receives(
            &payments,
            &event("expired", &["gone:443"]),
            &labels
        ));
        // ... but its end reaches every team that takes `resolved`, so none stays open.
        assert!(receives(
            &payments,
            &event("resolved", &["gone:443"]),
            &labels
        ));
        assert!(!receives(
            &payments,
            &event("resolved", &["www.example.test:443"]),
            &labels
        ));
        // `events` and `min_severity` still apply.
        let quiet = Webhook {
            min_severity: Severity::Critical,
            ..hook(&[("team", "payments")])
        };
        let info = AlertEvent {
            severity: Severity::Info,
            ..pay.clone()
        };
        assert!(!receives(&quiet, &info, &labels));
    }
}
