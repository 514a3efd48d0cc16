//! The DBA toolkit's engines, independent of the tool layer: each takes a connection it may
//! use exclusively for the duration of the call and returns typed, serializable results.
//!
//! - [`advisor`]: index recommendations for a workload, with hypothetical indexes (HypoPG).

pub mod advisor;
mod explain;
mod parse;

pub use advisor::{
    AdvisorOptions, AdvisorStats, HypopgInfo, IndexAdvice, IndexRecommendation, Objective,
    StatementAdvice, StatementBenefit, StatementOutcome, WorkloadStatement, hypopg_prerequisites,
    recommend_indexes,
};
pub use explain::PlanMode;
