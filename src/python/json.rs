//! JSON text -> Python objects in one pass, for dict mode and `JobInstance.to_dict()`.
//!
//! Going through `serde_json::Value` first cost a second tree of allocations (an `IndexMap` per
//! object) and a new key string for every key of every dict. Here the parser's events build
//! the Python objects directly, and the keys of one page are made once and shared (Fabric
//! sends the same nine keys in every instance). Numbers read as serde_json reads them
//! (`float_roundtrip`; integers beyond 64 bits become floats), key order is kept, and a
//! repeated key keeps its first position with the last value, as before.

use crate::core::models::MaybeBorrowed;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;

/// Converts JSON texts to Python objects, sharing key strings between the texts it converts.
pub struct JsonToPython<'py> {
    py: Python<'py>,
    keys: RefCell<HashMap<Box<str>, Bound<'py, PyString>>>,
    /// The Python error that stopped the parser (serde errors can only carry text).
    failure: RefCell<Option<PyErr>>,
}

impl<'py> JsonToPython<'py> {
    pub fn new(py: Python<'py>) -> Self {
        Self {
            py,
            keys: RefCell::new(HashMap::new()),
            failure: RefCell::new(None),
        }
    }

    /// `text` (one JSON value) as Python data; a ValueError if it is not valid JSON.
    pub fn convert(&self, text: &str) -> PyResult<Bound<'py, PyAny>> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let converted = Seed(self)
            .deserialize(&mut deserializer)
            .and_then(|value| deserializer.end().map(|()| value));
        converted.map_err(|error| {
            self.failure
                .borrow_mut()
                .take()
                .unwrap_or_else(|| PyValueError::new_err(format!("invalid JSON: {error}")))
        })
    }

    fn key(&self, key: &str) -> Bound<'py, PyString> {
        let mut keys = self.keys.borrow_mut();
        if let Some(known) = keys.get(key) {
            return known.clone();
        }
        let made = PyString::new(self.py, key);
        keys.insert(key.into(), made.clone());
        made
    }

    /// Keeps a Python error for `convert` and stops the parser.
    fn fail<E: serde::de::Error>(&self, error: PyErr) -> E {
        let text = error.to_string();
        *self.failure.borrow_mut() = Some(error);
        E::custom(text)
    }
}

fn infallible<T>(converted: Result<T, std::convert::Infallible>) -> T {
    match converted {
        Ok(value) => value,
        Err(never) => match never {},
    }
}

struct Seed<'a, 'py>(&'a JsonToPython<'py>);

impl<'de, 'py> DeserializeSeed<'de> for Seed<'_, 'py> {
    type Value = Bound<'py, PyAny>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, 'py> Visitor<'de> for Seed<'_, 'py> {
    type Value = Bound<'py, PyAny>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(self.0.py.None().into_bound(self.0.py))
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        self.visit_unit()
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(pyo3::types::PyBool::new(self.0.py, v).to_owned().into_any())
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(infallible(v.into_pyobject(self.0.py)).into_any())
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(infallible(v.into_pyobject(self.0.py)).into_any())
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(infallible(v.into_pyobject(self.0.py)).into_any())
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(PyString::new(self.0.py, v).into_any())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let list = PyList::empty(self.0.py);
        while let Some(element) = seq.next_element_seed(Seed(self.0))? {
            list.append(element).map_err(|e| self.0.fail(e))?;
        }
        Ok(list.into_any())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let dict = PyDict::new(self.0.py);
        while let Some(MaybeBorrowed(key)) = map.next_key::<MaybeBorrowed<'de>>()? {
            let value = map.next_value_seed(Seed(self.0))?;
            dict.set_item(self.0.key(&key), value)
                .map_err(|e| self.0.fail(e))?;
        }
        Ok(dict.into_any())
    }
}
