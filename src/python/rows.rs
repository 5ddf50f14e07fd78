//! A page's items in the form the caller asked for: typed objects or wire dicts.

use crate::core::error::Result;
use crate::core::models::JobInstance as CoreJobInstance;
use crate::core::models::WireText;
use crate::core::paging::{Pager, RawPage};
use crate::python::json::JsonToPython;
use crate::python::models::JobInstance;
use pyo3::prelude::*;

/// Parsed items, still without Python objects (built off the GIL, converted with it).
pub enum Rows {
    Objects(Vec<CoreJobInstance>),
    Dicts(Vec<WireText>),
}

impl Rows {
    pub fn into_python(self, py: Python<'_>) -> PyResult<Vec<Py<PyAny>>> {
        match self {
            Rows::Objects(items) => items
                .into_iter()
                .map(|job| Py::new(py, JobInstance(job)).map(Py::into_any))
                .collect(),
            Rows::Dicts(items) => {
                let json = JsonToPython::new(py);
                items
                    .iter()
                    .map(|item| json.convert(&item.0).map(Bound::unbind))
                    .collect()
            }
        }
    }
}

/// The items of a page received by [`Pager::next_raw_page`].
pub fn parse_rows(raw: &RawPage, as_dict: bool) -> Result<Rows> {
    Ok(if as_dict {
        Rows::Dicts(raw.parse::<WireText>()?.items)
    } else {
        Rows::Objects(raw.parse::<CoreJobInstance>()?.items)
    })
}

/// The next page of `pager` as rows; `None` at the end.
pub async fn next_rows(pager: &mut Pager, as_dict: bool) -> Result<Option<Rows>> {
    Ok(if as_dict {
        pager
            .next_page::<WireText>()
            .await?
            .map(|page| Rows::Dicts(page.items))
    } else {
        pager
            .next_page::<CoreJobInstance>()
            .await?
            .map(|page| Rows::Objects(page.items))
    })
}
