//! Maps a config key path such as `endpoint[2].address` to the line it is written on.
//!
//! serde tells us *which* key is wrong; this module re-reads the file with toml's span-keeping
//! parser to tell the user *where*.

use toml::de::{DeTable, DeValue};

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// A dotted key path with array indices, displayed as `endpoint[2].address`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyPath(pub Vec<Segment>);

impl KeyPath {
    pub fn key(mut self, key: &str) -> Self {
        self.0.push(Segment::Key(key.to_string()));
        self
    }

    pub fn index(mut self, index: usize) -> Self {
        self.0.push(Segment::Index(index));
        self
    }

    pub fn from_ignored(path: &serde_ignored::Path<'_>) -> KeyPath {
        let mut segments = Vec::new();
        let mut cursor = Some(path);
        while let Some(p) = cursor {
            cursor = match p {
                serde_ignored::Path::Root => None,
                serde_ignored::Path::Seq { parent, index } => {
                    segments.push(Segment::Index(*index));
                    Some(*parent)
                }
                serde_ignored::Path::Map { parent, key } => {
                    segments.push(Segment::Key(key.clone()));
                    Some(*parent)
                }
                serde_ignored::Path::Some { parent }
                | serde_ignored::Path::NewtypeStruct { parent }
                | serde_ignored::Path::NewtypeVariant { parent } => Some(*parent),
            };
        }
        segments.reverse();
        KeyPath(segments)
    }
}

impl std::fmt::Display for KeyPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Segment::Key(k) if i == 0 => write!(f, "{k}")?,
                Segment::Key(k) => write!(f, ".{k}")?,
                Segment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// The parsed file with spans, used only for line lookups.
pub struct Locator<'a> {
    text: &'a str,
    root: Option<toml::Spanned<DeTable<'a>>>,
}

impl<'a> Locator<'a> {
    pub fn new(text: &'a str) -> Self {
        Locator {
            text,
            root: DeTable::parse(text).ok(),
        }
    }

    /// 1-based line of the key at `path` (or of its nearest existing parent).
    pub fn line(&self, path: &KeyPath) -> Option<usize> {
        let root = self.root.as_ref()?;
        let mut table: &DeTable<'_> = root.get_ref();
        let mut value: Option<&toml::Spanned<DeValue<'_>>> = None;
        let mut best = None;
        for seg in &path.0 {
            match seg {
                Segment::Key(k) => {
                    let entry = table.iter().find(|(key, _)| key.get_ref().as_ref() == k);
                    let Some((key, v)) = entry else { break };
                    best = Some(key.span().start);
                    value = Some(v);
                }
                Segment::Index(n) => {
                    let Some(DeValue::Array(items)) = value.map(|v| v.get_ref()) else {
                        break;
                    };
                    let Some(item) = items.get(*n) else { break };
                    best = Some(item.span().start);
                    value = Some(item);
                }
            }
            if let Some(DeValue::Table(t)) = value.map(|v| v.get_ref()) {
                table = t;
            }
        }
        best.map(|offset| self.line_of(offset))
    }

    /// The config text being located in.
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// 1-based line of a byte offset.
    pub fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_lines() {
        let text = "[scan]\ntimeout = \"1s\"\n\n[[endpoint]]\naddress = \"a:1\"\n\n[[endpoint]]\naddress = \"b:1\"\nadress = \"x\"\n";
        let loc = Locator::new(text);
        assert_eq!(
            loc.line(&KeyPath::default().key("scan").key("timeout")),
            Some(2)
        );
        assert_eq!(
            loc.line(&KeyPath::default().key("endpoint").index(1).key("adress")),
            Some(9)
        );
        assert_eq!(
            KeyPath::default()
                .key("endpoint")
                .index(1)
                .key("adress")
                .to_string(),
            "endpoint[1].adress"
        );
    }
}
