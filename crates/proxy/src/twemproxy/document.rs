//! Reading a twemproxy YAML file into pools of raw `key: value` entries, in file order,
//! duplicates kept, every scalar exactly as written (`0x10` stays `0x10`: nutcracker
//! reads scalars as text and so must we).
//!
//! Two passes over `serde_yaml`: the first builds a tree to check the shape nutcracker
//! demands (one mapping of pools, each a mapping of scalars and one sequence), in the
//! order and words of nutcracker's own structure check; the second, knowing the shape,
//! asks for every scalar as a string, which `serde_yaml` hands over untouched.
//!
//! Not reproduced: nutcracker's token check, which also refuses flow style (`[a, b]`),
//! anchors, aliases, tags and explicit `---` / `...` markers. Corvid reads those as YAML
//! means them.

use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// One pool as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RawPool {
    pub name: String,
    pub entries: Vec<(String, RawValue)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum RawValue {
    Scalar(String),
    Sequence(Vec<String>),
}

/// What the shape check found wrong; nutcracker's words, after `conf: '<file>' `.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StructureProblem {
    #[error("has more than one \"key:value\" at depth {0}")]
    MoreThanOneKeyValue(usize),
    #[error("has a depth greater than 2")]
    TooDeep,
    #[error("missing sequence directive at depth 2")]
    MissingSequence,
    #[error("has more than one sequence directive")]
    MoreThanOneSequence,
    #[error("has sequence at depth {0} instead of 2")]
    SequenceDepth(usize),
    #[error("has invalid \"key:value\" at depth 2")]
    InvalidKeyValue,
    #[error("has invalid empty \"key:\" at depth 0")]
    EmptyKey,
    #[error("has invalid mapping \"key:\" at depth 1")]
    InvalidMapping,
}

/// Why the file could not be read as pools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ReadError {
    /// Not exactly one document.
    Documents(usize),
    /// Not YAML.
    Syntax(String),
    Structure(StructureProblem),
}

/// Reads `text` as nutcracker would, short of its token check.
pub(super) fn read(text: &str) -> Result<Vec<RawPool>, ReadError> {
    let documents = count_documents(text)?;
    if documents != 1 {
        return Err(ReadError::Documents(documents));
    }
    let tree = Node::deserialize(first_document(text)?).map_err(syntax)?;
    check_structure(&tree).map_err(ReadError::Structure)?;
    let Node::Map(pools) = &tree else {
        // check_structure refuses any other root.
        return Err(ReadError::Structure(StructureProblem::EmptyKey));
    };
    let shapes: Vec<Vec<bool>> = pools
        .iter()
        .map(|(_, pool)| match pool {
            Node::Map(entries) => entries
                .iter()
                .map(|(_, v)| matches!(v, Node::Seq(_)))
                .collect(),
            _ => Vec::new(),
        })
        .collect();
    PoolsSeed { shapes: &shapes }
        .deserialize(first_document(text)?)
        .map_err(syntax)
}

fn syntax(error: serde_yaml::Error) -> ReadError {
    ReadError::Syntax(error.to_string())
}

fn first_document(text: &str) -> Result<serde_yaml::Deserializer<'_>, ReadError> {
    serde_yaml::Deserializer::from_str(text)
        .next()
        .ok_or(ReadError::Documents(0))
}

/// nutcracker counts documents that have a root node; a file of nothing but blanks and
/// comments has none (serde_yaml reports one empty document there).
fn count_documents(text: &str) -> Result<usize, ReadError> {
    let blank = text.lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with('#')
    });
    if blank {
        return Ok(0);
    }
    let mut count = 0;
    for document in serde_yaml::Deserializer::from_str(text) {
        match de::IgnoredAny::deserialize(document) {
            Ok(_) => count += 1,
            Err(e) if e.to_string().starts_with("EOF while parsing") => {}
            Err(e) => return Err(syntax(e)),
        }
    }
    Ok(count)
}

/// The shape of a document, scalars as text (the first pass only looks at the shape).
#[derive(Debug)]
enum Node {
    Scalar,
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl<'de> de::Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML node")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        // An empty value is an empty plain scalar to libyaml.
        Ok(Node::Scalar)
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Node>()? {
            entries.push((key, map.next_value::<Node>()?));
        }
        Ok(Node::Map(entries))
    }
}

#[derive(Clone, Copy)]
enum Event {
    MapStart,
    MapEnd,
    SeqStart,
    SeqEnd,
    Scalar,
}

fn events(node: &Node, out: &mut Vec<Event>) {
    match node {
        Node::Scalar => out.push(Event::Scalar),
        Node::Seq(items) => {
            out.push(Event::SeqStart);
            items.iter().for_each(|item| events(item, out));
            out.push(Event::SeqEnd);
        }
        Node::Map(entries) => {
            out.push(Event::MapStart);
            for (key, value) in entries {
                events(key, out);
                events(value, out);
            }
            out.push(Event::MapEnd);
        }
    }
}

/// nutcracker's structure check, run over the events libyaml would have produced.
fn check_structure(root: &Node) -> Result<(), StructureProblem> {
    const ROOT: usize = 1;
    const MAX: usize = 2;
    let mut stream = Vec::new();
    events(root, &mut stream);
    let mut depth = 0usize;
    let mut seq = false;
    let mut count = [0u32; MAX + 1];
    for event in stream {
        match event {
            Event::MapStart => {
                if depth == ROOT && count[depth] != 1 {
                    return Err(StructureProblem::MoreThanOneKeyValue(depth));
                } else if depth >= MAX {
                    return Err(StructureProblem::TooDeep);
                }
                depth += 1;
            }
            Event::MapEnd => {
                if depth == MAX {
                    if seq {
                        seq = false;
                    } else {
                        return Err(StructureProblem::MissingSequence);
                    }
                }
                depth -= 1;
                count[depth] = 0;
            }
            Event::SeqStart => {
                if seq {
                    return Err(StructureProblem::MoreThanOneSequence);
                } else if depth != MAX {
                    return Err(StructureProblem::SequenceDepth(depth));
                } else if count[depth] != 1 {
                    return Err(StructureProblem::InvalidKeyValue);
                }
                seq = true;
            }
            Event::SeqEnd => count[depth] = 0,
            Event::Scalar => {
                if depth == 0 {
                    return Err(StructureProblem::EmptyKey);
                } else if depth == ROOT && count[depth] != 0 {
                    return Err(StructureProblem::InvalidMapping);
                } else if depth == MAX && count[depth] == 2 {
                    count[depth] = 0;
                }
                count[depth] += 1;
            }
        }
    }
    Ok(())
}

/// Second pass: the pools, with every scalar as written.
struct PoolsSeed<'s> {
    shapes: &'s [Vec<bool>],
}

impl<'de> DeserializeSeed<'de> for PoolsSeed<'_> {
    type Value = Vec<RawPool>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<RawPool>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PoolsSeed<'_> {
    type Value = Vec<RawPool>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping of pools")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<RawPool>, A::Error> {
        let mut pools = Vec::new();
        while let Some(name) = map.next_key_seed(Text)? {
            let shape = self.shapes.get(pools.len()).map_or(&[][..], |s| &s[..]);
            let entries = map.next_value_seed(EntriesSeed { shape })?;
            pools.push(RawPool { name, entries });
        }
        Ok(pools)
    }
}

struct EntriesSeed<'s> {
    shape: &'s [bool],
}

impl<'de> DeserializeSeed<'de> for EntriesSeed<'_> {
    type Value = Vec<(String, RawValue)>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EntriesSeed<'_> {
    type Value = Vec<(String, RawValue)>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping of directives")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key_seed(Text)? {
            let value = if self.shape.get(entries.len()).copied().unwrap_or(false) {
                RawValue::Sequence(map.next_value_seed(TextList)?)
            } else {
                RawValue::Scalar(map.next_value_seed(Text)?)
            };
            entries.push((key, value));
        }
        Ok(entries)
    }
}

/// A scalar, exactly as written.
struct Text;

impl<'de> DeserializeSeed<'de> for Text {
    type Value = String;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Text {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a scalar")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }
}

struct TextList;

impl<'de> DeserializeSeed<'de> for TextList {
    type Value = Vec<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<String>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for TextList {
    type Value = Vec<String>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence of scalars")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Text)? {
            items.push(item);
        }
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(text: &str) -> ReadError {
        read(text).unwrap_err()
    }

    #[test]
    fn scalars_come_back_as_written() {
        let pools = read("a:\n  t: 0x10\n  b: True\n  e:\n  n: ~\n  s:\n   - 1e3\n").unwrap();
        assert_eq!(pools[0].name, "a");
        let e = &pools[0].entries;
        assert_eq!(e[0], ("t".into(), RawValue::Scalar("0x10".into())));
        assert_eq!(e[1], ("b".into(), RawValue::Scalar("True".into())));
        assert_eq!(e[2], ("e".into(), RawValue::Scalar(String::new())));
        assert_eq!(e[3], ("n".into(), RawValue::Scalar("~".into())));
        assert_eq!(e[4], ("s".into(), RawValue::Sequence(vec!["1e3".into()])));
    }

    #[test]
    fn duplicates_and_order_are_kept() {
        let pools = read("b:\n  h: 1\n  h: 2\n  s:\n   - x\na:\n  s:\n   - y\n").unwrap();
        assert_eq!(pools[0].name, "b");
        assert_eq!(pools[0].entries.len(), 3);
        assert_eq!(pools[1].name, "a");
    }

    #[test]
    fn structure_errors_are_nutcrackers() {
        use StructureProblem::*;
        let s = |p| ReadError::Structure(p);
        assert_eq!(problem("a:\n  listen: x\n"), s(MissingSequence));
        assert_eq!(
            problem("a:\n  h:\n   - 1\n  s:\n   - 2\n"),
            s(MoreThanOneSequence)
        );
        assert_eq!(problem("a:\n  x:\n    y: z\n  s:\n   - 1\n"), s(TooDeep));
        assert_eq!(problem("a\n"), s(EmptyKey));
        assert_eq!(problem("a: b\n"), s(InvalidMapping));
        assert_eq!(problem("- a\n"), s(SequenceDepth(0)));
        assert_eq!(problem("a:\n  - x\n"), s(SequenceDepth(1)));
    }

    #[test]
    fn document_counts() {
        assert_eq!(problem(""), ReadError::Documents(0));
        assert_eq!(problem("# nothing\n"), ReadError::Documents(0));
        assert_eq!(
            problem("a:\n  s:\n   - 1\n---\nb:\n  s:\n   - 1\n"),
            ReadError::Documents(2)
        );
        assert!(matches!(problem("a: [\n"), ReadError::Syntax(_)));
    }
}
