//! Installing the process default from configuration (its own test binary: one process,
//! one default).

use ncp_types::Oid;
use terminology::code_systems::EDQM_OID;
use terminology::{value_sets, Coded, Terminology};

#[test]
fn install_sets_the_default_once() {
    let t = Terminology::load(None).unwrap();
    let installed = Terminology::install(t).expect("first install wins");
    assert!(std::ptr::eq(installed, Terminology::embedded()));
    assert!(installed.source().mvc_dir.is_none());
    let again = Terminology::install(Terminology::load(None).unwrap());
    assert!(again.is_err(), "a second install is refused");
    let tablet = Coded::new("10219000", Oid::parse(EDQM_OID).unwrap());
    assert!(Terminology::embedded().contains(value_sets::DOSE_FORM, &tablet));
}
