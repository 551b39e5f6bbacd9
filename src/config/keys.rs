//! Test-only: every setting the config file accepts, read off the serde types themselves, so a
//! new key cannot be added without the reference (`docs/configuration.md`) naming it.
//!
//! A recording deserializer walks [`RawConfig`]: serde hands `deserialize_struct` the static
//! list of a struct's field names, and the recorder descends into each with a placeholder value.

use std::cell::RefCell;
use std::collections::BTreeSet;

use serde::de::{self, value::Error, DeserializeSeed, Deserializer, IntoDeserializer, Visitor};

/// Every key path, dotted (`limits.max_users`; an array of tables gives its fields under its
/// own name: `budgets.name`).
pub fn all_keys() -> BTreeSet<String> {
    let out = RefCell::new(BTreeSet::new());
    <super::RawConfig as serde::Deserialize>::deserialize(Recorder {
        prefix: String::new(),
        out: &out,
    })
    .expect("the recorder's placeholders fit every setting's type");
    out.into_inner()
}

struct Recorder<'a> {
    prefix: String,
    out: &'a RefCell<BTreeSet<String>>,
}

impl<'de> Deserializer<'de> for Recorder<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_str("x")
    }
    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_bool(false)
    }
    fn deserialize_u64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_u64(1)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_u64(1)
    }
    fn deserialize_i64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_i64(1)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_i64(1)
    }
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_some(self)
    }
    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_seq(One(Some(self)))
    }
    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_map(de::value::MapDeserializer::new(std::iter::empty::<(
            String,
            String,
        )>()))
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Error> {
        let mut out = self.out.borrow_mut();
        out.extend(fields.iter().map(|f| format!("{}{f}", self.prefix)));
        drop(out);
        v.visit_map(Fields {
            fields: fields.iter(),
            current: "",
            prefix: self.prefix,
            out: self.out,
        })
    }

    serde::forward_to_deserialize_any! {
        i8 i16 u8 u16 f32 f64 char str string bytes byte_buf unit unit_struct
        newtype_struct tuple tuple_struct enum identifier ignored_any
    }
}

/// A sequence of one element, so the element type (an array of tables) is walked too.
struct One<'a>(Option<Recorder<'a>>);

impl<'de> de::SeqAccess<'de> for One<'_> {
    type Error = Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.0.take().map(|r| seed.deserialize(r)).transpose()
    }
}

struct Fields<'a> {
    fields: std::slice::Iter<'static, &'static str>,
    current: &'static str,
    prefix: String,
    out: &'a RefCell<BTreeSet<String>>,
}

impl<'de> de::MapAccess<'de> for Fields<'_> {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some(f) = self.fields.next() else {
            return Ok(None);
        };
        self.current = f;
        seed.deserialize(f.into_deserializer()).map(Some)
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        seed.deserialize(Recorder {
            prefix: format!("{}{}.", self.prefix, self.current),
            out: self.out,
        })
    }
}
