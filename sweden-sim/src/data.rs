//! Synthetic data: patients, medicines, prescriptions, blocks and care-provider records.
//!
//! Every name and number is invented. Dates are relative to the day the simulators start, so an
//! "expired" prescription stays expired and an active one stays valid whenever the tests run.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::{Days, NaiveDate};
use ncp_types::systems::{
    ATC_URI, EDQM_URI, HSA_ID_URI, LOINC_URI, NPL_ID_URI, NPL_PACK_ID_URI, SNOMED_CT_URI, UCUM_URI,
};
use ncp_types::{HsaId, PersonId, PersonIdKind};
use serde_json::{json, Value};

pub(crate) const ICD10_SE: &str = "urn:oid:1.2.752.116.1.1.1";
pub(crate) const CVX: &str = "http://hl7.org/fhir/sid/cvx";
pub(crate) const NLL_PROFILE: &str = "http://electronichealth.se/fhir/StructureDefinition/";
pub(crate) const EXT: &str = "http://electronichealth.se/fhir/StructureDefinition/";
pub(crate) const PRESCRIPTION_ID_SYSTEM: &str =
    "http://electronichealth.se/identifier/nll-prescription-id";

/// A synthetic patient, for the sandbox banner and the README.
#[derive(Debug, Clone)]
pub struct SyntheticPatient {
    /// Short key used in resource ids (`p01` …).
    pub key: &'static str,
    pub id: PersonId,
    pub given: &'static str,
    pub family: &'static str,
    /// `male` / `female`.
    pub gender: &'static str,
    /// `YYYY-MM-DD`.
    pub birth_date: &'static str,
    /// What this patient is for.
    pub edge_case: &'static str,
}

impl SyntheticPatient {
    pub fn kind(&self) -> PersonIdKind {
        self.id.kind()
    }
}

struct PatientSpec {
    key: &'static str,
    birth: &'static str,
    serial: &'static str,
    samordning: bool,
    given: &'static str,
    family: &'static str,
    street: &'static str,
    postal: &'static str,
    city: &'static str,
    edge: &'static str,
}

const PATIENTS: &[PatientSpec] = &[
    PatientSpec { key: "p01", birth: "19121212", serial: "121", samordning: false, given: "Tolvan", family: "Tolvansson", street: "Storgatan 12", postal: "111 22", city: "Stockholm", edge: "typical: hypertension and type 2 diabetes, 5 prescriptions incl. Citodon (paracetamol + kodein), records at 3 providers (the hypertension at two of them), a 4th provider whose NTK endpoint is off" },
    PatientSpec { key: "p02", birth: "19580423", serial: "237", samordning: false, given: "Björn", family: "Öberg", street: "Kungsgatan 4", postal: "411 19", city: "Göteborg", edge: "narcotics class II (OxyContin, OxyNorm), an expired prescription, a fully dispensed one (completed, 0 left)" },
    PatientSpec { key: "p03", birth: "19491102", serial: "342", samordning: false, given: "Märta", family: "Sjöström", street: "Åsögatan 8", postal: "116 24", city: "Stockholm", edge: "opt-out in NSR: nothing may be shared cross-border" },
    PatientSpec { key: "p04", birth: "19710615", serial: "455", samordning: false, given: "Göran", family: "Ängström", street: "Vasagatan 21", postal: "753 13", city: "Uppsala", edge: "NSR provider-block on Sahlgrenska (SE2321000131-7002)" },
    PatientSpec { key: "p05", birth: "19830930", serial: "562", samordning: false, given: "Karin", family: "Ödmark", street: "Drottninggatan 3", postal: "252 21", city: "Helsingborg", edge: "NSR category-block on patient-summary (ePrescriptions still shared)" },
    PatientSpec { key: "p06", birth: "19660208", serial: "673", samordning: false, given: "Lars", family: "Håkansson", street: "Järntorget 2", postal: "413 04", city: "Göteborg", edge: "NLL integritetsspärr on Sahlgrenska: its prescriptions are hidden cross-border" },
    PatientSpec { key: "p07", birth: "19900719", serial: "784", samordning: false, given: "Ingrid", family: "Bäckström", street: "Ringvägen 40", postal: "118 60", city: "Stockholm", edge: "no data at all in any service" },
    PatientSpec { key: "p08", birth: "19400127", serial: "895", samordning: false, given: "Sven", family: "Åström", street: "Fjällgatan 15", postal: "831 32", city: "Östersund", edge: "30 prescriptions (paging over 2 pages at the default _count 20)" },
    PatientSpec { key: "p09", birth: "19950314", serial: "906", samordning: true, given: "Elsa", family: "Nyström", street: "Skolgatan 7", postal: "903 30", city: "Umeå", edge: "samordningsnummer; asthma, inhalers" },
    PatientSpec { key: "p10", birth: "19881205", serial: "128", samordning: true, given: "Åsa", family: "Lövgren", street: "Hamngatan 9", postal: "211 22", city: "Malmö", edge: "samordningsnummer; penicillin allergy, a stopped prescription" },
    PatientSpec { key: "p11", birth: "19750505", serial: "239", samordning: false, given: "Olle", family: "Wärnström", street: "Södra vägen 31", postal: "412 54", city: "Göteborg", edge: "NSR entry-block on one Condition (depression) at Vårdcentralen Södermalm" },
    PatientSpec { key: "p12", birth: "20190821", serial: "344", samordning: false, given: "Maja", family: "Törnqvist", street: "Björkvägen 5", postal: "722 15", city: "Västerås", edge: "child: immunizations (ATC + SNOMED CT + CVX), vital signs" },
    PatientSpec { key: "p13", birth: "19441010", serial: "451", samordning: false, given: "Nils", family: "Ekström", street: "Lärkgatan 2", postal: "582 22", city: "Linköping", edge: "pacemaker (DeviceUseStatement + Device), procedures, warfarin, atrial fibrillation" },
    PatientSpec { key: "p14", birth: "19620303", serial: "566", samordning: false, given: "Britt-Marie", family: "Sjögren", street: "Älvgatan 11", postal: "652 25", city: "Karlstad", edge: "insulin pen (subcutaneous, pre-filled pen), insulin pump, a cancelled prescription" },
    PatientSpec { key: "p15", birth: "19791224", serial: "679", samordning: false, given: "Erik", family: "Fröding", street: "Prästgatan 6", postal: "871 31", city: "Härnösand", edge: "NLL sekretesspärr on Vårdcentralen Södermalm; a withdrawn (inactive) NSR opt-out that must be ignored" },
    PatientSpec { key: "p16", birth: "19550606", serial: "780", samordning: false, given: "Lena", family: "Fältskog", street: "Månstorpsvägen 1", postal: "222 24", city: "Lund", edge: "hypothyroidism; a prescription whose validity starts in the future" },
];

fn person_number(p: &PatientSpec) -> PersonId {
    let mut birth = p.birth.to_owned();
    if p.samordning {
        let day: u32 = birth[6..8].parse().unwrap_or(1);
        birth = format!("{}{:02}", &birth[..6], day + 60);
    }
    let n = ncp_types::with_check_digit(&format!("{birth}{}", p.serial)).unwrap_or_default();
    PersonId::parse(&n).unwrap_or_else(|e| panic!("synthetic number {} invalid: {e}", p.key))
}

fn gender(p: &PatientSpec) -> &'static str {
    let odd = p.serial.as_bytes()[2] % 2 == 1;
    if odd {
        "male"
    } else {
        "female"
    }
}

fn birth_date(p: &PatientSpec) -> &'static str {
    // Leaked once per patient (the list is static and built once).
    Box::leak(format!("{}-{}-{}", &p.birth[..4], &p.birth[4..6], &p.birth[6..8]).into_boxed_str())
}

static SYNTHETIC: LazyLock<Vec<SyntheticPatient>> = LazyLock::new(|| {
    PATIENTS
        .iter()
        .map(|p| SyntheticPatient {
            key: p.key,
            id: person_number(p),
            given: p.given,
            family: p.family,
            gender: gender(p),
            birth_date: birth_date(p),
            edge_case: p.edge,
        })
        .collect()
});

/// The synthetic patients, in key order.
pub fn patients() -> &'static [SyntheticPatient] {
    &SYNTHETIC
}

fn pid(key: &str) -> PersonId {
    patients()
        .iter()
        .find(|p| p.key == key)
        .map(|p| p.id.clone())
        .unwrap_or_else(|| panic!("no synthetic patient {key}"))
}

struct ProviderSpec {
    hsa: &'static str,
    name: &'static str,
    street: &'static str,
    postal: &'static str,
    city: &'static str,
    phone: &'static str,
    doctor_hsa: &'static str,
    doctor_given: &'static str,
    doctor_family: &'static str,
}

const PROVIDERS: &[ProviderSpec] = &[
    ProviderSpec {
        hsa: "SE2321000016-7001",
        name: "Vårdcentralen Södermalm",
        street: "Götgatan 60",
        postal: "118 26",
        city: "Stockholm",
        phone: "+46812345600",
        doctor_hsa: "SE2321000016-P101",
        doctor_given: "Anders",
        doctor_family: "Lindgren",
    },
    ProviderSpec {
        hsa: "SE2321000131-7002",
        name: "Sahlgrenska Universitetssjukhuset",
        street: "Blå stråket 5",
        postal: "413 45",
        city: "Göteborg",
        phone: "+46313420000",
        doctor_hsa: "SE2321000131-P201",
        doctor_given: "Sofia",
        doctor_family: "Bergström",
    },
    ProviderSpec {
        hsa: "SE2321000032-7003",
        name: "Akademiska sjukhuset",
        street: "Sjukhusvägen 1",
        postal: "751 85",
        city: "Uppsala",
        phone: "+46186110000",
        doctor_hsa: "SE2321000032-P301",
        doctor_given: "Johan",
        doctor_family: "Åberg",
    },
];

/// A provider listed in PDI whose NTK endpoint is `off` (no server runs for it).
pub(crate) const OFFLINE_PROVIDER: &str = "SE2321000057-7004";

fn hsa(s: &str) -> HsaId {
    HsaId::parse(s).unwrap_or_else(|e| panic!("synthetic HSA-id {s}: {e}"))
}

/// The HSA-ids of the care-provider servers, in port order.
pub fn provider_ids() -> Vec<HsaId> {
    PROVIDERS.iter().map(|p| hsa(p.hsa)).collect()
}

// ---------------------------------------------------------------------------------------------
// Medicines

struct Ingredient {
    atc: &'static str,
    name: &'static str,
    value: f64,
    unit: &'static str,
}

struct Med {
    key: &'static str,
    nplid: &'static str,
    name: &'static str,
    atc: (&'static str, &'static str),
    form: (&'static str, &'static str),
    route: (&'static str, &'static str),
    ingredients: &'static [Ingredient],
    /// Unit of presentation of the strength's denominator and the package content.
    per: (f64, &'static str, &'static str),
    pack_id: &'static str,
    pack_text: &'static str,
    pack_content: f64,
    package_type: (&'static str, &'static str),
    narcotic: Option<&'static str>,
    dose: Dose,
}

struct Dose {
    text: &'static str,
    frequency: u32,
    period: f64,
    period_unit: &'static str,
    quantity: f64,
    unit: &'static str,
    ucum: &'static str,
}

const MEDS: &[Med] = &[
    Med {
        key: "alvedon",
        nplid: "19750612000018",
        name: "Alvedon 500 mg filmdragerad tablett",
        atc: ("N02BE01", "paracetamol"),
        form: ("10221000", "Film-coated tablet"),
        route: ("20053000", "Oral use"),
        ingredients: &[Ingredient {
            atc: "N02BE01",
            name: "paracetamol",
            value: 500.0,
            unit: "mg",
        }],
        per: (1.0, "tablett", "1"),
        pack_id: "20050616100038",
        pack_text: "Blister, 20 tabletter",
        pack_content: 20.0,
        package_type: ("30007000", "Blister"),
        narcotic: None,
        dose: Dose {
            text: "1-2 tabletter vid behov, högst 8 tabletter per dygn",
            frequency: 4,
            period: 1.0,
            period_unit: "d",
            quantity: 1.0,
            unit: "tablett",
            ucum: "1",
        },
    },
    Med {
        key: "citodon",
        nplid: "19800101000115",
        name: "Citodon 500 mg/30 mg tablett",
        atc: ("N02AJ06", "kodein och paracetamol"),
        form: ("10219000", "Tablet"),
        route: ("20053000", "Oral use"),
        ingredients: &[
            Ingredient {
                atc: "N02BE01",
                name: "paracetamol",
                value: 500.0,
                unit: "mg",
            },
            Ingredient {
                atc: "R05DA04",
                name: "kodein",
                value: 30.0,
                unit: "mg",
            },
        ],
        per: (1.0, "tablett", "1"),
        pack_id: "20010530100117",
        pack_text: "Burk, 100 tabletter",
        pack_content: 100.0,
        package_type: ("30066000", "Tablet container"),
        narcotic: Some("III"),
        dose: Dose {
            text: "1-2 tabletter vid behov mot smärta, högst 3 gånger per dygn",
            frequency: 3,
            period: 1.0,
            period_unit: "d",
            quantity: 1.0,
            unit: "tablett",
            ucum: "1",
        },
    },
    Med {
        key: "oxycontin",
        nplid: "19990415000047",
        name: "OxyContin 10 mg depottablett",
        atc: ("N02AA05", "oxikodon"),
        form: ("10226000", "Prolonged-release tablet"),
        route: ("20053000", "Oral use"),
        ingredients: &[Ingredient {
            atc: "N02AA05",
            name: "oxikodon",
            value: 10.0,
            unit: "mg",
        }],
        per: (1.0, "tablett", "1"),
        pack_id: "20000301100046",
        pack_text: "Blister, 28 tabletter",
        pack_content: 28.0,
        package_type: ("30007000", "Blister"),
        narcotic: Some("II"),
        dose: Dose {
            text: "1 tablett morgon och kväll",
            frequency: 2,
            period: 1.0,
            period_unit: "d",
            quantity: 1.0,
            unit: "tablett",
            ucum: "1",
        },
    },
    Med {
        key: "oxynorm",
        nplid: "20030908000052",
        name: "OxyNorm 1 mg/ml oral lösning",
        atc: ("N02AA05", "oxikodon"),
        form: ("10105000", "Oral solution"),
        route: ("20053000", "Oral use"),
        ingredients: &[Ingredient {
            atc: "N02AA05",
            name: "oxikodon",
            value: 1.0,
            unit: "mg",
        }],
        per: (1.0, "ml", "mL"),
        pack_id: "20040105100052",
        pack_text: "Flaska, 250 milliliter",
        pack_content: 250.0,
        package_type: ("30008000", "Bottle"),
        narcotic: Some("II"),
        dose: Dose {
            text: "5 ml vid genombrottssmärta, högst 6 gånger per dygn",
            frequency: 6,
            period: 1.0,
            period_unit: "d",
            quantity: 5.0,
            unit: "ml",
            ucum: "mL",
        },
    },
    Med {
        key: "enalapril",
        nplid: "19961220000064",
        name: "Enalapril Actavis 10 mg tablett",
        atc: ("C09AA02", "enalapril"),
        form: ("10219000", "Tablet"),
        route: ("20053000", "Oral use"),
        ingredients: &[Ingredient {
            atc: "C09AA02",
            name: "enalapril",
            value: 10.0,
            unit: "mg",
        }],
        per: (1.0, "tablett", "1"),
        pack_id: "20021118100069",
        pack_text: "Blister, 98 tabletter",
        pack_content: 98.0,
        package_type: ("30007000", "Blister"),
        narcotic: None,
        dose: Dose {
            text: "1 tablett på morgonen",
            frequency: 1,
            period: 1.0,
            period_unit: "d",
            quantity: 1.0,
            unit: "tablett",
            ucum: "1",
        },
    },
    Med {
        key: "metformin",
        nplid: "20020307000078",
        name: "Metformin Teva 500 mg filmdragerad tablett",
        atc: ("A10BA02", "metformin"),
        form: ("10221000", "Film-coated tablet"),
        route: ("20053000", "Oral use"),
        ingredients: &[Ingredient {
            atc: "A10BA02",
            name: "metformin",
            value: 500.0,
            unit: "mg",
        }],
        per: (1.0, "tablett", "1"),
        pack_id: "20030218100071",
        pack_text: "Burk, 100 tabletter",
        pack_content: 100.0,
        package_type: ("30066000", "Tablet container"),
        narcotic: None,
        dose: Dose {
            text: "1 tablett 2 gånger dagligen i samband med måltid",
            frequency: 2,
            period: 1.0,
            period_unit: "d",
            quantity: 1.0,
            unit: "tablett",
            ucum: "1",
        },
    },
    Med {
        key: "amlodipin",
        nplid: "20040611000082",
        name: "Amlodipin Sandoz 5 mg tablett",
        atc: ("C08CA01", "amlodipin"),
        form: ("10219000", "Tablet"),
        route: ("20053000", "Oral use"),
        ingredients: &[Ingredient {
            atc: "C08CA01",
            name: "amlodipin",
            value: 5.0,
            unit: "mg",
        }],
        per: (1.0, "tablett", "1"),
        pack_id: "20050420100084",
        pack_text: "Blister, 98 tabletter",
        pack_content: 98.0,
        package_type: ("30007000", "Blister"),
        narcotic: None,
        dose: Dose {
            text: "1 tablett dagligen",
            frequency: 1,
            period: 1.0,
            period_unit: "d",
            quantity: 1.0,
            unit: "tablett",
            ucum: "1",
        },
    },
    Med {
        key: "atorvastatin",
        nplid: "20080924000096",
        name: "Atorvastatin Krka 20 mg filmdragerad tablett",
        atc: ("C10AA05", "atorvastatin"),
        form: ("10221000", "Film-coated tablet"),
        route: ("20053000", "Oral use"),
        ingredients: &[Ingredient {
            atc: "C10AA05",
            name: "atorvastatin",
            value: 20.0,
            unit: "mg",
        }],
        per: (1.0, "tablett", "1"),
        pack_id: "20090112100095",
        pack_text: "Blister, 100 tabletter",
        pack_content: 100.0,
        package_type: ("30007000", "Blister"),
        narcotic: None,
        dose: Dose {
            text: "1 tablett till kvällen",
            frequency: 1,
            period: 1.0,
            period_unit: "d",
            quantity: 1.0,
            unit: "tablett",
            ucum: "1",
        },
    },
    Med {
        key: "amimox",
        nplid: "19870506000103",
        name: "Amimox 500 mg kapsel, hård",
        atc: ("J01CA04", "amoxicillin"),
        form: ("10210000", "Capsule, hard"),
        route: ("20053000", "Oral use"),
        ingredients: &[Ingredient {
            atc: "J01CA04",
            name: "amoxicillin",
            value: 500.0,
            unit: "mg",
        }],
        per: (1.0, "kapsel", "1"),
        pack_id: "19880302100107",
        pack_text: "Blister, 21 kapslar",
        pack_content: 21.0,
        package_type: ("30007000", "Blister"),
        narcotic: None,
        dose: Dose {
            text: "1 kapsel 3 gånger dagligen i 7 dagar",
            frequency: 3,
            period: 1.0,
            period_unit: "d",
            quantity: 1.0,
            unit: "kapsel",
            ucum: "1",
        },
    },
    Med {
        key: "bricanyl",
        nplid: "19850916000119",
        name: "Bricanyl Turbuhaler 0,5 mg/dos inhalationspulver",
        atc: ("R03AC03", "terbutalin"),
        form: ("11109000", "Inhalation powder"),
        route: ("20020000", "Inhalation use"),
        ingredients: &[Ingredient {
            atc: "R03AC03",
            name: "terbutalin",
            value: 0.5,
            unit: "mg",
        }],
        per: (1.0, "dos", "1"),
        pack_id: "19860210100112",
        pack_text: "Inhalator, 120 doser",
        pack_content: 120.0,
        package_type: ("30026500", "Inhaler"),
        narcotic: None,
        dose: Dose {
            text: "1 inhalation vid behov",
            frequency: 6,
            period: 1.0,
            period_unit: "d",
            quantity: 1.0,
            unit: "dos",
            ucum: "1",
        },
    },
    Med {
        key: "pulmicort",
        nplid: "19880128000124",
        name: "Pulmicort Turbuhaler 200 mikrogram/dos inhalationspulver",
        atc: ("R03BA02", "budesonid"),
        form: ("11109000", "Inhalation powder"),
        route: ("20020000", "Inhalation use"),
        ingredients: &[Ingredient {
            atc: "R03BA02",
            name: "budesonid",
            value: 200.0,
            unit: "ug",
        }],
        per: (1.0, "dos", "1"),
        pack_id: "19890415100126",
        pack_text: "Inhalator, 100 doser",
        pack_content: 100.0,
        package_type: ("30026500", "Inhaler"),
        narcotic: None,
        dose: Dose {
            text: "1 inhalation morgon och kväll",
            frequency: 2,
            period: 1.0,
            period_unit: "d",
            quantity: 1.0,
            unit: "dos",
            ucum: "1",
        },
    },
    Med {
        key: "novorapid",
        nplid: "20010912000137",
        name: "NovoRapid FlexPen 100 E/ml injektionsvätska, lösning i förfylld injektionspenna",
        atc: ("A10AB05", "insulin aspart"),
        form: ("11201000", "Solution for injection"),
        route: ("20066000", "Subcutaneous use"),
        ingredients: &[Ingredient {
            atc: "A10AB05",
            name: "insulin aspart",
            value: 100.0,
            unit: "[iU]",
        }],
        per: (1.0, "ml", "mL"),
        pack_id: "20020415100138",
        pack_text: "Förfylld injektionspenna, 5 x 3 milliliter",
        pack_content: 15.0,
        package_type: ("30050000", "Pre-filled pen"),
        narcotic: None,
        dose: Dose {
            text: "Enligt ordination i samband med måltid, vanligen 6-10 enheter",
            frequency: 3,
            period: 1.0,
            period_unit: "d",
            quantity: 8.0,
            unit: "enheter",
            ucum: "[iU]",
        },
    },
    Med {
        key: "levaxin",
        nplid: "19900321000143",
        name: "Levaxin 50 mikrogram tablett",
        atc: ("H03AA01", "levotyroxinnatrium"),
        form: ("10219000", "Tablet"),
        route: ("20053000", "Oral use"),
        ingredients: &[Ingredient {
            atc: "H03AA01",
            name: "levotyroxinnatrium",
            value: 50.0,
            unit: "ug",
        }],
        per: (1.0, "tablett", "1"),
        pack_id: "19910115100146",
        pack_text: "Burk, 100 tabletter",
        pack_content: 100.0,
        package_type: ("30066000", "Tablet container"),
        narcotic: None,
        dose: Dose {
            text: "1 tablett på fastande mage på morgonen",
            frequency: 1,
            period: 1.0,
            period_unit: "d",
            quantity: 1.0,
            unit: "tablett",
            ucum: "1",
        },
    },
    Med {
        key: "waran",
        nplid: "19640705000151",
        name: "Waran 2,5 mg tablett",
        atc: ("B01AA03", "warfarin"),
        form: ("10219000", "Tablet"),
        route: ("20053000", "Oral use"),
        ingredients: &[Ingredient {
            atc: "B01AA03",
            name: "warfarin",
            value: 2.5,
            unit: "mg",
        }],
        per: (1.0, "tablett", "1"),
        pack_id: "19650101100153",
        pack_text: "Burk, 100 tabletter",
        pack_content: 100.0,
        package_type: ("30066000", "Tablet container"),
        narcotic: None,
        dose: Dose {
            text: "Dosering enligt PK-INR, se doseringskalender",
            frequency: 1,
            period: 1.0,
            period_unit: "d",
            quantity: 1.0,
            unit: "tablett",
            ucum: "1",
        },
    },
    Med {
        key: "sertralin",
        nplid: "20060818000168",
        name: "Sertralin Aurobindo 50 mg filmdragerad tablett",
        atc: ("N06AB06", "sertralin"),
        form: ("10221000", "Film-coated tablet"),
        route: ("20053000", "Oral use"),
        ingredients: &[Ingredient {
            atc: "N06AB06",
            name: "sertralin",
            value: 50.0,
            unit: "mg",
        }],
        per: (1.0, "tablett", "1"),
        pack_id: "20070205100161",
        pack_text: "Blister, 98 tabletter",
        pack_content: 98.0,
        package_type: ("30007000", "Blister"),
        narcotic: None,
        dose: Dose {
            text: "1 tablett dagligen",
            frequency: 1,
            period: 1.0,
            period_unit: "d",
            quantity: 1.0,
            unit: "tablett",
            ucum: "1",
        },
    },
];

fn med(key: &str) -> &'static Med {
    MEDS.iter()
        .find(|m| m.key == key)
        .unwrap_or_else(|| panic!("no synthetic medicine {key}"))
}

fn coding(system: &str, code: &str, display: &str) -> Value {
    json!({ "system": system, "code": code, "display": display })
}

/// A JSON number, integral when the value is (`500`, not `500.0`).
fn number(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        json!(v as i64)
    } else {
        json!(v)
    }
}

fn quantity(value: f64, unit: &str, ucum: &str) -> Value {
    json!({ "value": number(value), "unit": unit, "system": UCUM_URI, "code": ucum })
}

fn medication_json(m: &Med) -> Value {
    let (per_value, per_unit, per_ucum) = m.per;
    let mut ext = vec![
        json!({ "url": format!("{EXT}nll-package"), "valueCodeableConcept": {
            "coding": [coding(NPL_PACK_ID_URI, m.pack_id, m.pack_text)], "text": m.pack_text } }),
        json!({ "url": format!("{EXT}nll-package-type"), "valueCodeableConcept": {
            "coding": [coding(EDQM_URI, m.package_type.0, m.package_type.1)] } }),
    ];
    if let Some(class) = m.narcotic {
        ext.push(json!({ "url": format!("{EXT}nll-narcotic-class"), "valueCode": class }));
    }
    json!({
        "resourceType": "Medication",
        "id": format!("med-{}", m.key),
        "meta": { "profile": [format!("{NLL_PROFILE}NLLMedication")] },
        "extension": ext,
        "code": {
            "coding": [coding(NPL_ID_URI, m.nplid, m.name), coding(ATC_URI, m.atc.0, m.atc.1)],
            "text": m.name,
        },
        "form": { "coding": [coding(EDQM_URI, m.form.0, m.form.1)] },
        "ingredient": m.ingredients.iter().map(|i| json!({
            "itemCodeableConcept": { "coding": [coding(ATC_URI, i.atc, i.name)], "text": i.name },
            "isActive": true,
            "strength": {
                "numerator": quantity(i.value, i.unit, i.unit),
                "denominator": quantity(per_value, per_unit, per_ucum),
            },
        })).collect::<Vec<_>>(),
        "amount": {
            "numerator": quantity(m.pack_content, per_unit, per_ucum),
            "denominator": { "value": 1, "unit": "förpackning", "system": UCUM_URI, "code": "1" },
        },
    })
}

// ---------------------------------------------------------------------------------------------
// NLL

/// Status of a prescription in NLL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RxStatus {
    Active,
    Completed,
    Stopped,
    Cancelled,
}

impl RxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RxStatus::Active => "active",
            RxStatus::Completed => "completed",
            RxStatus::Stopped => "stopped",
            RxStatus::Cancelled => "cancelled",
        }
    }
}

/// A prescription with its mutable dispensing state; the JSON is rendered from it.
#[derive(Debug, Clone)]
pub(crate) struct Prescription {
    pub id: String,
    pub patient: PersonId,
    pub prescriber_org: HsaId,
    pub status: RxStatus,
    pub remaining: u32,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
    template: Value,
}

impl Prescription {
    pub fn to_json(&self) -> Value {
        let mut v = self.template.clone();
        v["status"] = json!(self.status.as_str());
        v["dispenseRequest"]["extension"] = json!([{
            "url": format!("{EXT}nll-remaining-dispensations"),
            "valueInteger": self.remaining,
        }]);
        v
    }
}

/// An NLL data lock (spärr) against one care provider.
#[derive(Debug, Clone)]
pub(crate) struct DataLock {
    pub patient: PersonId,
    pub blocked: HsaId,
    pub resource: Value,
}

#[derive(Debug, Clone)]
pub(crate) struct NllData {
    pub patients: Vec<(PersonId, Value)>,
    pub medications: Vec<Value>,
    pub practitioners: Vec<Value>,
    pub roles: Vec<Value>,
    pub organizations: Vec<Value>,
    pub prescriptions: Vec<Prescription>,
    pub locks: Vec<DataLock>,
}

fn patient_json(s: &SyntheticPatient, spec: &PatientSpec) -> Value {
    json!({
        "resourceType": "Patient",
        "id": format!("pat-{}", s.key),
        "meta": { "profile": [format!("{NLL_PROFILE}NLLPatient")] },
        "identifier": [{ "system": s.id.system_uri(), "value": s.id.as_str() }],
        "name": [{ "use": "official", "family": s.family, "given": s.given.split(' ').collect::<Vec<_>>() }],
        "gender": s.gender,
        "birthDate": s.birth_date,
        "address": [{ "line": [spec.street], "postalCode": spec.postal, "city": spec.city, "country": "SE" }],
    })
}

#[derive(Clone, Copy)]
enum Kind {
    Active(u32),
    Expired,
    Completed,
    Stopped,
    Cancelled,
    NotYetValid,
}

/// (patient, medicine, prescriber index, kind)
const PRESCRIPTIONS: &[(&str, &str, usize, Kind)] = &[
    ("p01", "enalapril", 0, Kind::Active(3)),
    ("p01", "metformin", 0, Kind::Active(4)),
    ("p01", "citodon", 0, Kind::Active(1)),
    ("p01", "atorvastatin", 1, Kind::Active(3)),
    ("p01", "alvedon", 0, Kind::Active(2)),
    ("p02", "oxycontin", 1, Kind::Active(2)),
    ("p02", "oxynorm", 1, Kind::Active(1)),
    ("p02", "amlodipin", 1, Kind::Expired),
    ("p02", "alvedon", 1, Kind::Completed),
    ("p03", "sertralin", 0, Kind::Active(3)),
    ("p04", "enalapril", 2, Kind::Active(3)),
    ("p04", "atorvastatin", 1, Kind::Active(2)),
    ("p05", "levaxin", 0, Kind::Active(3)),
    ("p06", "metformin", 0, Kind::Active(3)),
    ("p06", "sertralin", 1, Kind::Active(2)),
    ("p06", "alvedon", 1, Kind::Active(1)),
    ("p09", "bricanyl", 2, Kind::Active(4)),
    ("p09", "pulmicort", 2, Kind::Active(4)),
    ("p10", "amimox", 0, Kind::Stopped),
    ("p10", "alvedon", 0, Kind::Active(1)),
    ("p11", "sertralin", 0, Kind::Active(3)),
    ("p12", "alvedon", 0, Kind::Active(1)),
    ("p13", "waran", 2, Kind::Active(3)),
    ("p13", "enalapril", 2, Kind::Active(3)),
    ("p14", "novorapid", 1, Kind::Active(5)),
    ("p14", "metformin", 1, Kind::Cancelled),
    ("p15", "enalapril", 0, Kind::Active(2)),
    ("p15", "amlodipin", 2, Kind::Active(2)),
    ("p16", "levaxin", 0, Kind::Active(3)),
    ("p16", "alvedon", 0, Kind::NotYetValid),
];

fn days_before(d: NaiveDate, n: u64) -> NaiveDate {
    d.checked_sub_days(Days::new(n)).unwrap_or(d)
}

fn days_after(d: NaiveDate, n: u64) -> NaiveDate {
    d.checked_add_days(Days::new(n)).unwrap_or(d)
}

fn prescription(
    n: usize,
    patient_key: &str,
    m: &Med,
    prescriber: usize,
    kind: Kind,
    today: NaiveDate,
) -> Prescription {
    let id = format!("rx-{patient_key}-{n:02}");
    let age = 10 + (n as u64 * 7) % 120;
    let (status, remaining, authored, from, until) = match kind {
        Kind::Active(r) => {
            let a = days_before(today, age);
            (RxStatus::Active, r, a, a, days_after(a, 365))
        }
        Kind::Expired => {
            let a = days_before(today, 400);
            (RxStatus::Active, 2, a, a, days_after(a, 365))
        }
        Kind::Completed => {
            let a = days_before(today, age);
            (RxStatus::Completed, 0, a, a, days_after(a, 365))
        }
        Kind::Stopped => {
            let a = days_before(today, age);
            (RxStatus::Stopped, 1, a, a, days_after(a, 365))
        }
        Kind::Cancelled => {
            let a = days_before(today, age);
            (RxStatus::Cancelled, 3, a, a, days_after(a, 365))
        }
        Kind::NotYetValid => {
            let a = days_before(today, 1);
            let f = days_after(today, 10);
            (RxStatus::Active, 1, a, f, days_after(f, 365))
        }
    };
    let repeats = match kind {
        Kind::Active(r) => r.saturating_sub(1).max(remaining.saturating_sub(1)),
        _ => 2,
    };
    let p = &PROVIDERS[prescriber % PROVIDERS.len()];
    let d = &m.dose;
    let patient = pid(patient_key);
    let mut template = json!({
        "resourceType": "MedicationRequest",
        "id": id,
        "meta": { "profile": [format!("{NLL_PROFILE}NLLMedicationRequest")] },
        "identifier": [{ "system": PRESCRIPTION_ID_SYSTEM, "value": id.to_uppercase() }],
        "status": status.as_str(),
        "intent": "order",
        "authoredOn": authored.to_string(),
        "subject": {
            "reference": format!("Patient/pat-{patient_key}"),
            "identifier": { "system": patient.system_uri(), "value": patient.as_str() },
        },
        "requester": { "reference": format!("PractitionerRole/role-{}", p.hsa) },
        "medicationReference": { "reference": format!("Medication/med-{}", m.key), "display": m.name },
        "dosageInstruction": [{
            "text": d.text,
            "timing": { "repeat": { "frequency": d.frequency, "period": number(d.period), "periodUnit": d.period_unit } },
            "route": { "coding": [coding(EDQM_URI, m.route.0, m.route.1)] },
            "doseAndRate": [{ "doseQuantity": quantity(d.quantity, d.unit, d.ucum) }],
        }],
        "dispenseRequest": {
            "validityPeriod": { "start": from.to_string(), "end": until.to_string() },
            "numberOfRepeatsAllowed": repeats,
            "quantity": { "value": 1, "unit": "förpackning" },
        },
        "substitution": { "allowedBoolean": m.narcotic.is_none() },
    });
    if m.narcotic.is_some() {
        template["note"] =
            json!([{ "text": "Narkotikaklassat läkemedel: legitimation krävs vid uthämtning." }]);
    }
    Prescription {
        id: id.clone(),
        patient,
        prescriber_org: hsa(p.hsa),
        status,
        remaining,
        valid_from: from,
        valid_until: until,
        template,
    }
}

fn nll(today: NaiveDate) -> NllData {
    let patients = PATIENTS
        .iter()
        .zip(patients())
        .filter(|(spec, _)| spec.key != "p07")
        .map(|(spec, s)| (s.id.clone(), patient_json(s, spec)))
        .collect();
    let mut prescriptions = Vec::new();
    let mut counter: BTreeMap<&str, usize> = BTreeMap::new();
    let mut add = |key: &'static str, m: &Med, who: usize, kind: Kind| {
        let n = counter.entry(key).or_insert(0);
        *n += 1;
        prescriptions.push(prescription(*n, key, m, who, kind, today));
    };
    for (key, m, who, kind) in PRESCRIPTIONS {
        add(key, med(m), *who, *kind);
    }
    // Sven Åström: 30 prescriptions over the whole catalogue, to page through.
    for i in 0..30 {
        let m = &MEDS[i % MEDS.len()];
        add(
            "p08",
            m,
            i % PROVIDERS.len(),
            Kind::Active(1 + (i as u32 % 3)),
        );
    }
    let mut practitioners = vec![];
    let mut roles = vec![];
    let mut organizations = vec![];
    for p in PROVIDERS {
        practitioners.push(json!({
            "resourceType": "Practitioner",
            "id": format!("pr-{}", p.doctor_hsa),
            "identifier": [{ "system": HSA_ID_URI, "value": p.doctor_hsa }],
            "name": [{ "family": p.doctor_family, "given": [p.doctor_given], "prefix": ["Dr."] }],
            "qualification": [{ "code": { "text": "Läkare" } }],
        }));
        organizations.push(json!({
            "resourceType": "Organization",
            "id": format!("org-{}", p.hsa),
            "identifier": [{ "system": HSA_ID_URI, "value": p.hsa }],
            "name": p.name,
            "telecom": [{ "system": "phone", "value": p.phone }],
            "address": [{ "line": [p.street], "postalCode": p.postal, "city": p.city, "country": "SE" }],
        }));
        roles.push(json!({
            "resourceType": "PractitionerRole",
            "id": format!("role-{}", p.hsa),
            "practitioner": { "reference": format!("Practitioner/pr-{}", p.doctor_hsa) },
            "organization": { "reference": format!("Organization/org-{}", p.hsa) },
            "code": [{ "coding": [{ "system": "http://snomed.info/sct", "code": "309343006", "display": "Physician" }] }],
        }));
    }
    let lock = |patient: &str, category: &str, blocked: &str, n: usize| DataLock {
        patient: pid(patient),
        blocked: hsa(blocked),
        resource: json!({
            "resourceType": "Consent",
            "id": format!("nll-lock-{patient}-{n}"),
            "meta": { "profile": [format!("{NLL_PROFILE}NLLDataLock")] },
            "status": "active",
            "scope": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy" }] },
            "category": [{ "coding": [{ "system": "http://electronichealth.se/fhir/CodeSystem/nll-datalock-category", "code": category }] }],
            "patient": { "identifier": { "system": pid(patient).system_uri(), "value": pid(patient).as_str() } },
            "dateTime": days_before(today, 90).to_string(),
            "provision": { "type": "deny", "actor": [{
                "role": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "CST" }] },
                "reference": { "identifier": { "system": HSA_ID_URI, "value": blocked } },
            }] },
        }),
    };
    let locks = vec![
        lock("p06", "integritetsspärr", PROVIDERS[1].hsa, 1),
        lock("p15", "sekretesspärr", PROVIDERS[0].hsa, 1),
    ];
    NllData {
        patients,
        medications: MEDS.iter().map(medication_json).collect(),
        practitioners,
        roles,
        organizations,
        prescriptions,
        locks,
    }
}

// ---------------------------------------------------------------------------------------------
// NSR

#[derive(Debug, Clone)]
pub(crate) struct NsrData {
    pub consents: Vec<(PersonId, Value)>,
}

fn nsr(today: NaiveDate) -> NsrData {
    let consent = |patient: &str, n: usize, status: &str, category: &str, provision: Value| {
        let p = pid(patient);
        let mut provision = provision;
        provision["type"] = json!("deny");
        provision["period"] = json!({ "start": days_before(today, 200).to_string() });
        (
            p.clone(),
            json!({
                "resourceType": "Consent",
                "id": format!("nsr-{patient}-{n}"),
                "status": status,
                "scope": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy" }] },
                "category": [{ "coding": [{ "system": "http://electronichealth.se/fhir/CodeSystem/nsr-block-category", "code": category }] }],
                "patient": { "identifier": { "system": p.system_uri(), "value": p.as_str() } },
                "dateTime": days_before(today, 200).to_string(),
                "provision": provision,
            }),
        )
    };
    NsrData {
        consents: vec![
            consent("p03", 1, "active", "opt-out", json!({})),
            consent(
                "p04",
                1,
                "active",
                "provider-block",
                json!({ "actor": [{
                    "role": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "CST" }] },
                    "reference": { "identifier": { "system": HSA_ID_URI, "value": PROVIDERS[1].hsa } },
                }] }),
            ),
            consent(
                "p05",
                1,
                "active",
                "category-block",
                json!({ "class": [{ "system": "http://electronichealth.se/fhir/CodeSystem/nsr-block-class", "code": "patient-summary" }] }),
            ),
            consent(
                "p11",
                1,
                "active",
                "entry-block",
                json!({
                    "actor": [{
                        "role": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "CST" }] },
                        "reference": { "identifier": { "system": HSA_ID_URI, "value": PROVIDERS[0].hsa } },
                    }],
                    "data": [{ "meaning": "instance", "reference": { "reference": "Condition/cond-p11-2" } }],
                }),
            ),
            consent("p15", 1, "inactive", "opt-out", json!({})),
        ],
    }
}

// ---------------------------------------------------------------------------------------------
// Care providers

fn subject(p: &PersonId) -> Value {
    json!({ "identifier": { "system": p.system_uri(), "value": p.as_str() } })
}

struct Clinical {
    today: NaiveDate,
    records: Vec<(usize, PersonId, Value)>,
}

impl Clinical {
    fn push(&mut self, provider: usize, patient: &str, mut r: Value) {
        let p = pid(patient);
        let field = if r["resourceType"] == "Immunization" {
            "patient"
        } else {
            "subject"
        };
        r[field] = subject(&p);
        r["meta"] = json!({ "source": format!("urn:hsaid:{}", PROVIDERS[provider].hsa) });
        self.records.push((provider, p, r));
    }

    fn ago(&self, days: u64) -> String {
        days_before(self.today, days).to_string()
    }

    #[allow(clippy::too_many_arguments)]
    fn condition(
        &mut self,
        prov: usize,
        pat: &str,
        n: u32,
        sct: (&str, &str),
        icd: (&str, &str),
        onset_days: u64,
        active: bool,
    ) {
        let r = json!({
            "resourceType": "Condition",
            "id": format!("cond-{pat}-{n}"),
            "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": if active { "active" } else { "resolved" } }] },
            "verificationStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed" }] },
            "category": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "problem-list-item" }] }],
            "code": { "coding": [coding(SNOMED_CT_URI, sct.0, sct.1), coding(ICD10_SE, icd.0, icd.1)], "text": sct.1 },
            "onsetDateTime": self.ago(onset_days),
            "recordedDate": self.ago(onset_days),
        });
        self.push(prov, pat, r);
    }

    fn allergy(
        &mut self,
        prov: usize,
        pat: &str,
        n: u32,
        substance: (&str, &str),
        criticality: &str,
        reaction: (&str, &str),
    ) {
        let r = json!({
            "resourceType": "AllergyIntolerance",
            "id": format!("alg-{pat}-{n}"),
            "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active" }] },
            "verificationStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "code": "confirmed" }] },
            "type": "allergy",
            "criticality": criticality,
            "code": { "coding": [coding(SNOMED_CT_URI, substance.0, substance.1)], "text": substance.1 },
            "recordedDate": self.ago(800),
            "reaction": [{ "manifestation": [{ "coding": [coding(SNOMED_CT_URI, reaction.0, reaction.1)] }] }],
        });
        self.push(prov, pat, r);
    }

    fn medication(&mut self, prov: usize, pat: &str, n: u32, med_key: &str) {
        let m = med(med_key);
        let r = json!({
            "resourceType": "MedicationStatement",
            "id": format!("ms-{pat}-{n}"),
            "status": "active",
            "medicationCodeableConcept": {
                "coding": [coding(NPL_ID_URI, m.nplid, m.name), coding(ATC_URI, m.atc.0, m.atc.1)],
                "text": m.name,
            },
            "effectivePeriod": { "start": self.ago(300) },
            "dosage": [{ "text": m.dose.text, "route": { "coding": [coding(EDQM_URI, m.route.0, m.route.1)] } }],
        });
        self.push(prov, pat, r);
    }

    fn immunization(&mut self, prov: usize, pat: &str, n: u32, codes: &[Value], days: u64) {
        let r = json!({
            "resourceType": "Immunization",
            "id": format!("imm-{pat}-{n}"),
            "status": "completed",
            "vaccineCode": { "coding": codes },
            "occurrenceDateTime": self.ago(days),
            "primarySource": true,
        });
        self.push(prov, pat, r);
    }

    fn procedure(&mut self, prov: usize, pat: &str, n: u32, sct: (&str, &str), days: u64) {
        let r = json!({
            "resourceType": "Procedure",
            "id": format!("proc-{pat}-{n}"),
            "status": "completed",
            "code": { "coding": [coding(SNOMED_CT_URI, sct.0, sct.1)], "text": sct.1 },
            "performedDateTime": self.ago(days),
        });
        self.push(prov, pat, r);
    }

    #[allow(clippy::too_many_arguments)]
    fn vitals(
        &mut self,
        prov: usize,
        pat: &str,
        days: u64,
        sys: f64,
        dia: f64,
        hr: f64,
        kg: f64,
        cm: f64,
    ) {
        let when = self.ago(days);
        let cat = json!([{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs", "display": "Vital Signs" }] }]);
        let obs = |id: &str, loinc: (&str, &str)| {
            json!({
                "resourceType": "Observation",
                "id": format!("obs-{pat}-{id}"),
                "status": "final",
                "category": cat,
                "code": { "coding": [coding(LOINC_URI, loinc.0, loinc.1)], "text": loinc.1 },
                "effectiveDateTime": when,
            })
        };
        let mut bp = obs(
            "bp",
            ("85354-9", "Blood pressure panel with all children optional"),
        );
        bp["component"] = json!([
            { "code": { "coding": [coding(LOINC_URI, "8480-6", "Systolic blood pressure")] }, "valueQuantity": quantity(sys, "mmHg", "mm[Hg]") },
            { "code": { "coding": [coding(LOINC_URI, "8462-4", "Diastolic blood pressure")] }, "valueQuantity": quantity(dia, "mmHg", "mm[Hg]") },
        ]);
        let mut pulse = obs("hr", ("8867-4", "Heart rate"));
        pulse["valueQuantity"] = quantity(hr, "slag/min", "/min");
        let mut weight = obs("wt", ("29463-7", "Body weight"));
        weight["valueQuantity"] = quantity(kg, "kg", "kg");
        let mut height = obs("ht", ("8302-2", "Body height"));
        height["valueQuantity"] = quantity(cm, "cm", "cm");
        for r in [bp, pulse, weight, height] {
            self.push(prov, pat, r);
        }
    }

    fn device(&mut self, prov: usize, pat: &str, n: u32, sct: (&str, &str), days: u64) {
        let r = json!({
            "resourceType": "DeviceUseStatement",
            "id": format!("dus-{pat}-{n}"),
            "contained": [{
                "resourceType": "Device",
                "id": "device",
                "type": { "coding": [coding(SNOMED_CT_URI, sct.0, sct.1)], "text": sct.1 },
                "status": "active",
            }],
            "status": "active",
            "timingDateTime": self.ago(days),
            "device": { "reference": "#device" },
        });
        self.push(prov, pat, r);
    }
}

const HYPERTENSION: (&str, &str) = ("38341003", "Hypertensive disorder");
const DIABETES_2: (&str, &str) = ("44054006", "Diabetes mellitus type 2");
const ASTHMA: (&str, &str) = ("195967001", "Asthma");
const AFIB: (&str, &str) = ("49436004", "Atrial fibrillation");
const HYPOTHYROID: (&str, &str) = ("40930008", "Hypothyroidism");
const DEPRESSION: (&str, &str) = ("35489007", "Depressive disorder");
const DIABETES_1: (&str, &str) = ("46635009", "Diabetes mellitus type 1");
const PENICILLIN: (&str, &str) = ("764146007", "Penicillin");
const PEANUT: (&str, &str) = ("256349002", "Peanut");
const URTICARIA: (&str, &str) = ("126485001", "Urticaria");
const ANAPHYLAXIS: (&str, &str) = ("39579001", "Anaphylaxis");

fn influenza() -> Vec<Value> {
    vec![
        coding(
            ATC_URI,
            "J07BB02",
            "influenza, inactivated, split virus or surface antigen",
        ),
        coding(
            CVX,
            "140",
            "Influenza, seasonal, injectable, preservative free",
        ),
    ]
}

fn clinical(today: NaiveDate) -> Vec<(usize, PersonId, Value)> {
    let mut c = Clinical {
        today,
        records: Vec::new(),
    };
    // p01 Tolvan: two providers.
    c.condition(
        0,
        "p01",
        1,
        HYPERTENSION,
        ("I10", "Essentiell hypertoni"),
        2000,
        true,
    );
    c.condition(
        0,
        "p01",
        2,
        DIABETES_2,
        ("E11.9", "Diabetes mellitus typ 2 utan komplikationer"),
        1500,
        true,
    );
    c.medication(0, "p01", 1, "enalapril");
    c.medication(0, "p01", 2, "metformin");
    c.allergy(1, "p01", 1, PEANUT, "high", ANAPHYLAXIS);
    c.immunization(0, "p01", 1, &influenza(), 60);
    c.procedure(1, "p01", 1, ("80146002", "Appendectomy"), 9000);
    c.vitals(0, "p01", 30, 148.0, 92.0, 74.0, 88.5, 178.0);
    // Akademiska also knows the hypertension (one problem in the summary, not two) and took
    // blood pressure and weight at a visit: records at three running providers.
    c.condition(
        2,
        "p01",
        3,
        HYPERTENSION,
        ("I10", "Essentiell hypertoni"),
        1990,
        true,
    );
    c.procedure(2, "p01", 2, ("73761001", "Colonoscopy"), 400);
    // p02 Björn.
    c.condition(
        1,
        "p02",
        1,
        ("279039007", "Low back pain"),
        ("M54.5", "Lumbago"),
        700,
        true,
    );
    c.medication(1, "p02", 1, "oxycontin");
    c.vitals(1, "p02", 14, 132.0, 84.0, 68.0, 92.0, 183.0);
    // p03 Märta (opt-out).
    c.condition(
        0,
        "p03",
        1,
        DEPRESSION,
        ("F32.9", "Depressiv episod, ospecificerad"),
        400,
        true,
    );
    c.medication(0, "p03", 1, "sertralin");
    // p04 Göran: one provider blocked.
    c.condition(
        2,
        "p04",
        1,
        HYPERTENSION,
        ("I10", "Essentiell hypertoni"),
        1200,
        true,
    );
    c.condition(
        1,
        "p04",
        2,
        ("22298006", "Myocardial infarction"),
        ("I21.9", "Akut hjärtinfarkt, ospecificerad"),
        300,
        false,
    );
    c.procedure(
        1,
        "p04",
        1,
        ("232717009", "Coronary artery bypass grafting"),
        290,
    );
    c.vitals(2, "p04", 20, 138.0, 86.0, 70.0, 95.0, 180.0);
    // p05 Karin: category block on patient summary.
    c.condition(
        0,
        "p05",
        1,
        HYPOTHYROID,
        ("E03.9", "Hypotyreos, ospecificerad"),
        900,
        true,
    );
    c.allergy(0, "p05", 1, ("387207008", "Ibuprofen"), "low", URTICARIA);
    // p06 Lars.
    c.condition(
        0,
        "p06",
        1,
        DIABETES_2,
        ("E11.9", "Diabetes mellitus typ 2 utan komplikationer"),
        1000,
        true,
    );
    // p08 Sven.
    c.condition(
        0,
        "p08",
        1,
        HYPERTENSION,
        ("I10", "Essentiell hypertoni"),
        5000,
        true,
    );
    c.condition(
        0,
        "p08",
        2,
        ("13645005", "Chronic obstructive lung disease"),
        ("J44.9", "Kroniskt obstruktiv lungsjukdom, ospecificerad"),
        3000,
        true,
    );
    c.vitals(0, "p08", 7, 152.0, 88.0, 80.0, 71.0, 172.0);
    // p09 Elsa (samordningsnummer).
    c.condition(
        2,
        "p09",
        1,
        ASTHMA,
        ("J45.9", "Astma, ospecificerad"),
        3000,
        true,
    );
    c.medication(2, "p09", 1, "bricanyl");
    c.medication(2, "p09", 2, "pulmicort");
    // p10 Åsa (samordningsnummer).
    c.allergy(0, "p10", 1, PENICILLIN, "high", URTICARIA);
    // p11 Olle: entry block on cond-p11-2.
    c.condition(
        0,
        "p11",
        1,
        HYPERTENSION,
        ("I10", "Essentiell hypertoni"),
        800,
        true,
    );
    c.condition(
        0,
        "p11",
        2,
        DEPRESSION,
        ("F32.9", "Depressiv episod, ospecificerad"),
        200,
        true,
    );
    // p12 Maja: child immunizations.
    c.immunization(
        0,
        "p12",
        1,
        &[
            coding(
                ATC_URI,
                "J07CA09",
                "difteri-Haemophilus influenzae B-pertussis-polio-tetanus-hepatit B",
            ),
            coding(CVX, "146", "DTaP,IPV,Hib,HepB"),
        ],
        1700,
    );
    c.immunization(
        0,
        "p12",
        2,
        &[
            coding(
                ATC_URI,
                "J07AL02",
                "pneumokocker, renat polysackaridantigen konjugerat",
            ),
            coding(CVX, "133", "Pneumococcal conjugate PCV 13"),
        ],
        1650,
    );
    c.immunization(
        0,
        "p12",
        3,
        &[
            coding(
                ATC_URI,
                "J07BD52",
                "mässling, kombinationer med påssjuka och röda hund, levande försvagat",
            ),
            coding(
                SNOMED_CT_URI,
                "871831003",
                "Measles and mumps and rubella vaccine",
            ),
            coding(CVX, "03", "MMR"),
        ],
        1200,
    );
    c.vitals(0, "p12", 100, 100.0, 60.0, 95.0, 22.0, 118.0);
    // p13 Nils: pacemaker.
    c.condition(
        2,
        "p13",
        1,
        AFIB,
        ("I48.9", "Förmaksflimmer och förmaksfladder, ospecificerat"),
        2500,
        true,
    );
    c.procedure(
        2,
        "p13",
        1,
        ("307280005", "Implantation of cardiac pacemaker"),
        2400,
    );
    c.device(2, "p13", 1, ("14106009", "Cardiac pacemaker"), 2400);
    c.medication(2, "p13", 1, "waran");
    c.vitals(2, "p13", 40, 128.0, 78.0, 60.0, 79.0, 175.0);
    // p14 Britt-Marie: insulin.
    c.condition(
        1,
        "p14",
        1,
        DIABETES_1,
        ("E10.9", "Diabetes mellitus typ 1 utan komplikationer"),
        15000,
        true,
    );
    c.device(1, "p14", 1, ("69805005", "Insulin pump"), 1000);
    c.medication(1, "p14", 1, "novorapid");
    // p15 Erik.
    c.condition(
        0,
        "p15",
        1,
        HYPERTENSION,
        ("I10", "Essentiell hypertoni"),
        500,
        true,
    );
    // p16 Lena.
    c.condition(
        0,
        "p16",
        1,
        HYPOTHYROID,
        ("E03.9", "Hypotyreos, ospecificerad"),
        4000,
        true,
    );
    c.medication(0, "p16", 1, "levaxin");
    c.records
}

/// Every record the care providers hold, built for `today`, as (provider HSA-id, provider name,
/// patient, FHIR resource): for tests that compile summaries without running the servers.
pub fn clinical_records(today: NaiveDate) -> Vec<(HsaId, &'static str, PersonId, Value)> {
    clinical(today)
        .into_iter()
        .map(|(i, pid, r)| (hsa(PROVIDERS[i].hsa), PROVIDERS[i].name, pid, r))
        .collect()
}

/// The FHIR Patient NLL serves for the synthetic patient `key` (`p01` …).
pub fn patient_resource(key: &str) -> Option<Value> {
    PATIENTS
        .iter()
        .zip(patients())
        .find(|(spec, _)| spec.key == key)
        .map(|(spec, s)| patient_json(s, spec))
}

// ---------------------------------------------------------------------------------------------

/// Everything the simulators serve, built for one start day.
pub(crate) struct World {
    pub nll: NllData,
    pub nsr: NsrData,
    clinical: Vec<(usize, PersonId, Value)>,
}

/// The PDI index: per patient, the providers holding data and their categories.
pub(crate) type PdiIndex = Vec<(PersonId, Vec<(HsaId, String, Vec<&'static str>)>)>;

pub(crate) fn category_of(resource_type: &str) -> Option<&'static str> {
    Some(match resource_type {
        "Condition" => "conditions",
        "AllergyIntolerance" => "allergies",
        "MedicationStatement" => "medications",
        "Immunization" => "immunizations",
        "Procedure" => "procedures",
        "Observation" => "vital-signs",
        "DeviceUseStatement" => "devices",
        _ => return None,
    })
}

impl World {
    pub fn build(today: NaiveDate) -> World {
        World {
            nll: nll(today),
            nsr: nsr(today),
            clinical: clinical(today),
        }
    }

    /// The records one provider serves.
    pub fn provider_records(&self, id: &HsaId) -> Vec<(PersonId, Value)> {
        let Some(idx) = PROVIDERS.iter().position(|p| p.hsa == id.as_str()) else {
            return Vec::new();
        };
        self.clinical
            .iter()
            .filter(|(p, _, _)| *p == idx)
            .map(|(_, pid, r)| (pid.clone(), r.clone()))
            .collect()
    }

    /// The PDI index derived from the providers' records (plus the offline provider for p01).
    pub fn pdi_index(&self) -> PdiIndex {
        let mut by_patient: BTreeMap<String, (PersonId, BTreeMap<usize, Vec<&'static str>>)> =
            BTreeMap::new();
        for (prov, pid, r) in &self.clinical {
            let e = by_patient
                .entry(pid.as_str().to_owned())
                .or_insert_with(|| (pid.clone(), BTreeMap::new()));
            let cats = e.1.entry(*prov).or_default();
            if let Some(c) = r["resourceType"].as_str().and_then(category_of) {
                if !cats.contains(&c) {
                    cats.push(c);
                }
            }
        }
        let mut out: PdiIndex = by_patient
            .into_values()
            .map(|(pid, provs)| {
                let list = provs
                    .into_iter()
                    .map(|(i, cats)| (hsa(PROVIDERS[i].hsa), PROVIDERS[i].name.to_owned(), cats))
                    .collect();
                (pid, list)
            })
            .collect();
        let tolvan = pid("p01");
        if let Some((_, list)) = out.iter_mut().find(|(p, _)| *p == tolvan) {
            list.push((
                hsa(OFFLINE_PROVIDER),
                "Hälsocentralen Ljusdal".to_owned(),
                vec!["conditions"],
            ));
        }
        out
    }

    /// Providers registered in NTK with their endpoint switched off.
    pub fn offline_providers(&self) -> Vec<HsaId> {
        vec![hsa(OFFLINE_PROVIDER)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_numbers_are_valid_and_of_the_right_kind() {
        let ps = patients();
        assert!(ps.len() >= 14);
        let samordning = ps
            .iter()
            .filter(|p| p.kind() == PersonIdKind::Samordningsnummer)
            .count();
        assert_eq!(samordning, 2);
        assert!(ps.iter().any(|p| p.id.as_str() == "191212121212"));
        let mut ids: Vec<_> = ps.iter().map(|p| p.id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), ps.len(), "numbers are unique");
        for p in ps {
            let digit = p.id.as_str().as_bytes()[10] - b'0';
            assert_eq!(digit % 2 == 1, p.gender == "male", "{}", p.key);
        }
    }

    #[test]
    fn every_prescription_points_at_known_resources() {
        let w = World::build(NaiveDate::from_ymd_opt(2026, 1, 15).unwrap());
        assert!(
            w.nll
                .prescriptions
                .iter()
                .filter(|p| p.patient == pid("p08"))
                .count()
                > 25
        );
        for rx in &w.nll.prescriptions {
            let j = rx.to_json();
            let med = j["medicationReference"]["reference"].as_str().unwrap();
            let role = j["requester"]["reference"].as_str().unwrap();
            assert!(w
                .nll
                .medications
                .iter()
                .any(|m| format!("Medication/{}", m["id"].as_str().unwrap()) == med));
            assert!(w
                .nll
                .roles
                .iter()
                .any(|r| format!("PractitionerRole/{}", r["id"].as_str().unwrap()) == role));
            assert!(w.nll.patients.iter().any(|(p, _)| *p == rx.patient));
        }
        let citodon = w
            .nll
            .medications
            .iter()
            .find(|m| m["id"] == "med-citodon")
            .unwrap();
        assert_eq!(citodon["ingredient"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn the_readme_lists_every_patient() {
        let readme = include_str!("../README.md");
        for p in patients() {
            let n = p.id.as_str();
            let row = format!(
                "| {} | {} {} | `{}-{}` |",
                p.key,
                p.given,
                p.family,
                &n[..8],
                &n[8..]
            );
            assert!(readme.contains(&row), "README misses {row}");
        }
    }

    /// FHIR JSON has no empty arrays, empty objects or nulls.
    fn assert_fhir_json(v: &Value, path: &str) {
        match v {
            Value::Null => panic!("null at {path}"),
            Value::Array(a) => {
                assert!(!a.is_empty(), "empty array at {path}");
                for (i, x) in a.iter().enumerate() {
                    assert_fhir_json(x, &format!("{path}[{i}]"));
                }
            }
            Value::Object(o) => {
                assert!(!o.is_empty(), "empty object at {path}");
                for (k, x) in o {
                    assert_fhir_json(x, &format!("{path}.{k}"));
                }
            }
            Value::String(s) => assert!(!s.trim().is_empty(), "empty string at {path}"),
            _ => {}
        }
    }

    #[test]
    fn every_resource_is_well_formed_fhir_json() {
        let w = World::build(NaiveDate::from_ymd_opt(2026, 1, 15).unwrap());
        let mut all: Vec<Value> = w.nll.medications.clone();
        all.extend(w.nll.prescriptions.iter().map(Prescription::to_json));
        all.extend(w.nll.patients.iter().map(|(_, p)| p.clone()));
        all.extend(w.nll.practitioners.iter().cloned());
        all.extend(w.nll.roles.iter().cloned());
        all.extend(w.nll.organizations.iter().cloned());
        all.extend(w.nll.locks.iter().map(|l| l.resource.clone()));
        all.extend(w.nsr.consents.iter().map(|(_, c)| c.clone()));
        all.extend(w.clinical.iter().map(|(_, _, r)| r.clone()));
        for r in &all {
            let name = format!(
                "{}/{}",
                r["resourceType"].as_str().unwrap(),
                r["id"].as_str().unwrap()
            );
            assert_fhir_json(r, &name);
        }
        let mut ids: Vec<String> = all
            .iter()
            .map(|r| format!("{}/{}", r["resourceType"], r["id"]))
            .collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n, "resource ids are unique per type");
    }

    #[test]
    fn nobody_has_data_for_p07() {
        let w = World::build(NaiveDate::from_ymd_opt(2026, 1, 15).unwrap());
        let p07 = pid("p07");
        assert!(!w.nll.patients.iter().any(|(p, _)| *p == p07));
        assert!(!w.clinical.iter().any(|(_, p, _)| *p == p07));
        assert!(!w.pdi_index().iter().any(|(p, _)| *p == p07));
    }
}
