//! Who is calling and why: sent as the `X-Caller-HsaId`, `X-Purpose`, `X-Access` and
//! `X-Caller-Role` headers.

use ncp_types::HsaId;

/// Why the data is read (`X-Purpose`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    Treatment,
    Dispensing,
    CrossBorder,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Treatment => "treatment",
            Purpose::Dispensing => "dispensing",
            Purpose::CrossBorder => "cross-border",
        }
    }
}

/// Normal or emergency access (`X-Access`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Access {
    #[default]
    Normal,
    Emergency,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Normal => "normal",
            Access::Emergency => "emergency",
        }
    }
}

/// The caller's role (`X-Caller-Role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallerRole {
    Pharmacist,
    Physician,
    Ncp,
}

impl CallerRole {
    pub fn as_str(self) -> &'static str {
        match self {
            CallerRole::Pharmacist => "pharmacist",
            CallerRole::Physician => "physician",
            CallerRole::Ncp => "ncp",
        }
    }
}

/// The caller of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallContext {
    /// The bridge's HSA-id (`X-Caller-HsaId`).
    pub caller: HsaId,
    pub purpose: Purpose,
    pub access: Access,
    pub role: CallerRole,
}

impl CallContext {
    /// A cross-border request of the NCP with normal access.
    pub fn cross_border(caller: HsaId, role: CallerRole) -> Self {
        CallContext {
            caller,
            purpose: Purpose::CrossBorder,
            access: Access::Normal,
            role,
        }
    }

    pub(crate) fn headers(&self) -> [(&'static str, &str); 4] {
        [
            ("X-Caller-HsaId", self.caller.as_str()),
            ("X-Purpose", self.purpose.as_str()),
            ("X-Access", self.access.as_str()),
            ("X-Caller-Role", self.role.as_str()),
        ]
    }
}
