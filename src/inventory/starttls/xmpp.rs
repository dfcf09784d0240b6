//! XMPP (RFC 6120 section 5): the client opens a stream to the server's domain, the server
//! answers with its stream header and `<stream:features>`, which must list
//! `<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>`; `<starttls/>` is answered `<proceed/>`
//! (or `<failure/>`).
//!
//! The stream is matched on the few element names the exchange needs, as `openssl s_client
//! -starttls xmpp` and testssl.sh do, rather than parsed as XML: before TLS nothing else in it
//! matters, and every read is bounded by the caller's limits.

use super::{Refusal, Talk, quote_bytes};

const TLS_NS: &str = "urn:ietf:params:xml:ns:xmpp-tls";

/// Opens the stream to `domain`, checks the features, sends `<starttls/>`.
pub(super) async fn upgrade(talk: &mut Talk<'_>, domain: &str) -> Result<(), Refusal> {
    let open = format!(
        "<?xml version='1.0'?><stream:stream to='{}' version='1.0' xml:lang='en' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
        escape(domain)
    );
    talk.send(open.as_bytes()).await?;
    let features = loop {
        let text = utf8(talk)?;
        if let Some(error) = stream_error(&text) {
            return Err(talk.refused(error));
        }
        if let Some(end) = features_end(&text) {
            break text[..end].to_string();
        }
        if !text.is_empty() && !text.trim_start().starts_with('<') {
            return Err(talk.refused(format!(
                "answered the stream header with {}, which is not XML",
                quote_bytes(&talk.buf)
            )));
        }
        talk.fill().await?;
    };
    if !features.contains(TLS_NS) {
        let listed = features.rsplit("<stream:features").next().unwrap_or("");
        return Err(talk.refused(format!(
            "does not offer STARTTLS to {domain} (stream features: {})",
            quote_bytes(listed.as_bytes())
        )));
    }
    talk.buf.drain(..features.len());
    talk.send(format!("<starttls xmlns='{TLS_NS}'/>").as_bytes())
        .await?;
    loop {
        let text = utf8(talk)?;
        if let Some(error) = stream_error(&text) {
            return Err(talk.refused(error));
        }
        if let Some(start) = text.find("<proceed") {
            let end = element_end(&text[start..], "proceed").map(|e| start + e);
            if let Some(end) = end {
                talk.buf.drain(..end);
                return Ok(());
            }
        } else if text.contains("<failure") {
            return Err(talk.refused(format!(
                "answered <starttls/> with {}",
                quote_bytes(talk.buf.as_slice())
            )));
        } else if !text.trim().is_empty() && !text.trim_start().starts_with('<') {
            return Err(talk.refused(format!(
                "answered <starttls/> with {}",
                quote_bytes(&talk.buf)
            )));
        }
        talk.fill().await?;
    }
}

/// The buffer as text, up to a character still arriving; bytes that are not UTF-8 are refused
/// (XML streams are UTF-8, RFC 6120 section 11.6), so offsets into the text are offsets into
/// the buffer.
fn utf8(talk: &Talk<'_>) -> Result<String, Refusal> {
    match std::str::from_utf8(&talk.buf) {
        Ok(text) => Ok(text.to_string()),
        Err(e) if e.error_len().is_none() => {
            Ok(String::from_utf8_lossy(&talk.buf[..e.valid_up_to()]).into_owned())
        }
        Err(_) => Err(talk.refused(format!(
            "sent bytes that are not UTF-8, so not an XMPP stream: {}",
            quote_bytes(&talk.buf)
        ))),
    }
}

/// The byte just past the end of the features element, once it is complete.
fn features_end(text: &str) -> Option<usize> {
    let start = text.find("<stream:features")?;
    let rest = &text[start..];
    element_end(rest, "stream:features").map(|e| start + e)
}

/// Past the end of the element `name` that `text` starts with: `<name .../>` or
/// `<name ...>...</name>`.
fn element_end(text: &str, name: &str) -> Option<usize> {
    let tag_end = text.find('>')?;
    if text[..tag_end].ends_with('/') {
        return Some(tag_end + 1);
    }
    let close = format!("</{name}>");
    text.find(&close).map(|i| i + close.len())
}

/// A `<stream:error>`: the condition the server gave (`host-unknown`, ...).
fn stream_error(text: &str) -> Option<String> {
    let start = text.find("<stream:error")?;
    let inner = &text[start + "<stream:error".len()..];
    let condition = inner
        .split('<')
        .skip(1)
        .find_map(|tag| {
            let name = tag.split([' ', '/', '>']).next()?;
            (!name.is_empty() && !name.starts_with("text") && !name.starts_with('/'))
                .then(|| name.to_string())
        })
        .unwrap_or_else(|| "no condition".into());
    let hint = if condition == "host-unknown" {
        " (the server does not serve this domain: set server_name to the XMPP domain)"
    } else {
        ""
    };
    Some(format!(
        "closed the stream with the error {condition}{hint}"
    ))
}

/// The domain as an XML attribute value.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('\'', "&apos;")
        .replace('<', "&lt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_and_elements_are_found_whole() {
        let header = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' id='x'>";
        let features = "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>";
        assert_eq!(features_end(header), None);
        let whole = format!("{header}{features}");
        assert_eq!(features_end(&whole), Some(whole.len()));
        assert_eq!(features_end(&whole[..whole.len() - 3]), None);
        assert_eq!(features_end("<stream:features/>"), Some(18));
        let proceed = "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
        assert_eq!(element_end(proceed, "proceed"), Some(proceed.len()));
        assert_eq!(
            element_end("<proceed xmlns='x'></proceed>", "proceed"),
            Some(29)
        );
    }

    #[test]
    fn stream_errors_name_their_condition() {
        let e = stream_error("<stream:stream><stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text>no</text></stream:error>")
            .expect("error");
        assert!(
            e.starts_with("closed the stream with the error host-unknown (the server"),
            "{e}"
        );
        assert_eq!(stream_error("<stream:features/>"), None);
        assert_eq!(escape("a'b&c"), "a&apos;b&amp;c");
    }
}
