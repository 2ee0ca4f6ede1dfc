//! The blocks of the block register (NSR) applied to a Patient Summary, as pure functions:
//! whether a summary may be made at all, which care providers may contribute, and which
//! entries are left out.
//!
//! Nothing here tells the requester anything: a withheld summary is answered exactly as a
//! patient without data (see [`super`]); [`Withheld::reason`] is for the audit trail only.

use ncp_types::HsaId;
use nll_adapter::{Block, BlockCategory};
use serde_json::Value;

/// Why no summary is made although the patient may have data (audit trail only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Withheld {
    /// The patient opted out of cross-border sharing.
    OptOut,
    /// The patient blocked the Patient Summary category.
    CategoryBlock,
}

impl Withheld {
    /// The reason as the audit trail records it.
    pub fn reason(self) -> &'static str {
        match self {
            Withheld::OptOut => super::super::audit::reasons::BLOCKED_OPT_OUT,
            Withheld::CategoryBlock => super::super::audit::reasons::BLOCKED_PS_CATEGORY,
        }
    }
}

/// Whether a Patient Summary may be made under `blocks`: `Err` with the block that forbids it
/// (an opt-out wins over a category block).
pub fn summary_allowed(blocks: &[Block]) -> Result<(), Withheld> {
    if blocks.contains(&Block::OptOut) {
        return Err(Withheld::OptOut);
    }
    if blocks.contains(&Block::Category(BlockCategory::PatientSummary)) {
        return Err(Withheld::CategoryBlock);
    }
    Ok(())
}

/// Whether `provider`'s data may be in the summary (no provider block names it).
pub fn provider_allowed(blocks: &[Block], provider: &HsaId) -> bool {
    !blocks
        .iter()
        .any(|b| matches!(b, Block::Provider(p) if p == provider))
}

/// Whether the record `resource` that `provider` holds is blocked by an entry block (the
/// block names `Type/id`, and the provider when it names one). A contained resource is
/// blocked with its container.
pub fn entry_blocked(blocks: &[Block], provider: &HsaId, resource: &Value) -> bool {
    let ty = resource["resourceType"].as_str().unwrap_or_default();
    let id = resource["id"].as_str().unwrap_or_default();
    blocks.iter().any(|b| match b {
        Block::Entry {
            provider: by,
            resource_type,
            id: blocked,
        } => {
            by.as_ref().is_none_or(|p| p == provider)
                && resource_type == ty
                && blocked == id
                && !id.is_empty()
        }
        _ => false,
    })
}

/// How many entries of `provider` the blocks leave out (for the audit trail).
pub fn count_entry_blocks<'a>(
    blocks: &[Block],
    provider: &HsaId,
    resources: impl IntoIterator<Item = &'a Value>,
) -> usize {
    resources
        .into_iter()
        .filter(|r| entry_blocked(blocks, provider, r))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hsa(s: &str) -> HsaId {
        HsaId::parse(s).unwrap()
    }

    #[test]
    fn opt_out_and_category_block_withhold_the_summary() {
        assert_eq!(summary_allowed(&[]), Ok(()));
        assert_eq!(
            summary_allowed(&[Block::Category(BlockCategory::EPrescription)]),
            Ok(()),
            "an ePrescription block does not touch the summary"
        );
        assert_eq!(
            summary_allowed(&[Block::Category(BlockCategory::PatientSummary)]),
            Err(Withheld::CategoryBlock)
        );
        assert_eq!(
            summary_allowed(&[
                Block::Category(BlockCategory::PatientSummary),
                Block::OptOut
            ]),
            Err(Withheld::OptOut)
        );
        assert_ne!(Withheld::OptOut.reason(), Withheld::CategoryBlock.reason());
    }

    #[test]
    fn provider_blocks_name_one_provider() {
        let a = hsa("SE2321000131-7002");
        let b = hsa("SE2321000016-7001");
        let blocks = [Block::Provider(a.clone())];
        assert!(!provider_allowed(&blocks, &a));
        assert!(provider_allowed(&blocks, &b));
        assert!(provider_allowed(&[Block::OptOut], &a));
    }

    #[test]
    fn entry_blocks_match_type_id_and_provider() {
        let vc = hsa("SE2321000016-7001");
        let other = hsa("SE2321000131-7002");
        let blocks = [Block::Entry {
            provider: Some(vc.clone()),
            resource_type: "Condition".into(),
            id: "cond-p11-2".into(),
        }];
        let blocked = json!({"resourceType": "Condition", "id": "cond-p11-2"});
        let kept = json!({"resourceType": "Condition", "id": "cond-p11-1"});
        let other_type = json!({"resourceType": "Procedure", "id": "cond-p11-2"});
        assert!(entry_blocked(&blocks, &vc, &blocked));
        assert!(!entry_blocked(&blocks, &vc, &kept));
        assert!(!entry_blocked(&blocks, &vc, &other_type));
        assert!(
            !entry_blocked(&blocks, &other, &blocked),
            "the same id at another provider is another record"
        );
        let anywhere = [Block::Entry {
            provider: None,
            resource_type: "Condition".into(),
            id: "cond-p11-2".into(),
        }];
        assert!(entry_blocked(&anywhere, &other, &blocked));
        assert!(!entry_blocked(
            &anywhere,
            &other,
            &json!({"resourceType": "Condition"})
        ));
        assert_eq!(
            count_entry_blocks(&blocks, &vc, [&blocked, &kept, &blocked]),
            2
        );
    }
}
