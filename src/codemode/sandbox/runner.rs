//! The run loop: evaluates the program in a prepared realm, then drives it to the end itself:
//! runs promise jobs, releases queued `pg.*` calls into the in-flight window, blocks on the
//! [`Bridge`] when only calls are outstanding, turns engine errors and host-recorded limits
//! into [`SandboxError`]s, and converts the settled value into the result (or its preview).
//! User code runs only from here.

use std::{cell::RefCell, path::Path, rc::Rc};

use boa_engine::{
    Context, JsError, JsResult, JsValue, Script, Source,
    builtins::promise::PromiseState,
    error::{EngineError, RuntimeLimitError},
};

use super::bridge::{State, settle, state};
use super::errors::js_error;
use super::hooks::{JobQueue, Signals, run_job};
use super::{
    Bridge, JOB_COST, Outcome, SCRIPT_NAME, SandboxError, SandboxLimits, TruncationInfo, codes,
    flags,
};
use crate::codemode::convert::{self, ConvertOptions, Converter};

/// Runs one program: the bridge it talks to and the limits it reports.
pub(super) struct Runner<'b> {
    pub(super) bridge: &'b mut dyn Bridge,
    pub(super) limits: SandboxLimits,
}

/// How a step (evaluation or job) ended. Only ever a return value, never stored, so its size
/// does not matter.
#[allow(clippy::large_enum_variant)]
enum Step {
    Ok,
    /// Stop the run with this error.
    Stop(SandboxError),
}

impl Runner<'_> {
    pub(super) fn instruction_error(&self) -> SandboxError {
        let max = self.limits.instruction_budget.unwrap_or(0);
        SandboxError::limit(
            codes::INSTRUCTION_LIMIT,
            format!("the script used its whole instruction budget ({max} instructions)"),
            format!(
                "instruction budget ({max}); raise with {}",
                flags::INSTRUCTIONS
            ),
        )
    }

    fn engine_error(&self, err: &EngineError) -> SandboxError {
        match err {
            EngineError::RuntimeLimit(RuntimeLimitError::LoopIteration) => {
                let max = self.limits.loop_iterations;
                SandboxError::limit(
                    codes::LOOP_LIMIT,
                    format!("a loop ran more than {max} iterations in one function call"),
                    format!(
                        "loop iterations per function call ({max}); raise with {}",
                        flags::LOOP_ITERATIONS
                    ),
                )
            }
            EngineError::RuntimeLimit(_) => {
                let max = self.limits.recursion;
                SandboxError::limit(
                    codes::RECURSION_LIMIT,
                    format!("maximum call depth ({max}) exceeded"),
                    format!("call depth ({max}); raise with {}", flags::RECURSION),
                )
            }
            EngineError::NoInstructionsRemain => self.instruction_error(),
            _ => SandboxError::new(
                codes::ENGINE_ERROR,
                "the JavaScript engine hit an internal error",
            ),
        }
    }

    /// Interprets the result of running JS for `ms` (evaluation, a job, a settlement).
    fn check(&self, r: JsResult<()>, context: &mut Context) -> Step {
        let st = state(context);
        if let Some(abort) = st.borrow().abort.clone() {
            return Step::Stop(abort);
        }
        if context.instructions_remaining() == 0 {
            return Step::Stop(self.instruction_error());
        }
        match r {
            Ok(()) => Step::Ok,
            Err(err) => match err.as_engine() {
                Some(e) => Step::Stop(self.engine_error(e)),
                None => Step::Stop(js_error(&err, context)),
            },
        }
    }

    pub(super) fn run_in(
        &mut self,
        context: &mut Context,
        jobs: &Rc<JobQueue>,
        signals: &Rc<Signals>,
        st: &Rc<RefCell<State>>,
        converter: &Rc<Converter>,
        js: &str,
    ) -> Outcome {
        let (st, converter) = (st.clone(), converter.clone());
        let mut outcome = Outcome::default();

        // Evaluate the program.
        let root = match Script::parse(
            Source::from_bytes(js).with_path(Path::new(SCRIPT_NAME)),
            None,
            context,
        )
        .and_then(|script| script.evaluate(context))
        {
            Ok(v) => v,
            Err(err) => {
                let step = self.check(Err(err), context);
                let Step::Stop(e) = step else { unreachable!() };
                outcome.error = Some(e);
                return outcome;
            }
        };
        if let Step::Stop(e) = self.check(Ok(()), context) {
            outcome.error = Some(e);
            return outcome;
        }
        let root_promise = root.as_promise();

        // The event loop.
        // A program that did not evaluate to a promise is its own result.
        let mut jobs_run: u64 = 0;
        while let Some(p) = &root_promise {
            if !matches!(p.state(), PromiseState::Pending) {
                break;
            }
            self.flush(context, &st);
            if let Some(job) = jobs.pop() {
                let r = run_job(job, context);
                context.clear_kept_objects();
                if let Step::Stop(e) = self.check(r, context) {
                    outcome.error = Some(e);
                    return outcome;
                }
                // Bytecode used plus JOB_COST per job must stay within the budget.
                jobs_run += 1;
                if self.limits.instruction_budget.is_some()
                    && jobs_run.saturating_mul(JOB_COST) >= context.instructions_remaining() as u64
                {
                    outcome.error = Some(self.instruction_error());
                    return outcome;
                }
                continue;
            }
            let in_flight = st.borrow().in_flight;
            if in_flight > 0 {
                match self.bridge.wait() {
                    Some((id, result)) => {
                        let r = settle(context, &st, id, result);
                        if let Step::Stop(e) = self.check(r, context) {
                            outcome.error = Some(e);
                            return outcome;
                        }
                    }
                    None => {
                        outcome.error = Some(SandboxError::new(
                            codes::BRIDGE_CLOSED,
                            "the connection to the tool host closed while pg.* calls were pending",
                        ));
                        return outcome;
                    }
                }
                continue;
            }
            if !st.borrow().queued.is_empty() {
                continue;
            }
            // Nothing can progress and the root promise is still pending.
            let mut e = SandboxError::new(
                codes::UNSETTLED,
                "the script's promise never settled — did you forget an await? (an await on a \
                 promise that is never resolved ends the run)",
            );
            if signals.suspect_swallowed.get() && self.limits.instruction_budget.is_some() {
                // With a budget, loops are not limited inside await continuations, so an
                // async function that died there silently hit the call-depth limit.
                let max = self.limits.recursion;
                e = SandboxError::limit(
                    codes::RECURSION_LIMIT,
                    format!(
                        "maximum call depth ({max}) exceeded (after an await; the script's \
                         promise never settled)"
                    ),
                    format!("call depth ({max}); raise with {}", flags::RECURSION),
                );
            } else if signals.suspect_swallowed.get() {
                e.message = format!(
                    "the script's promise never settled: code after an await most likely hit the \
                     call-depth limit ({}; raise with {}) or the loop limit ({}; {}), which cannot \
                     be reported precisely there",
                    self.limits.recursion,
                    flags::RECURSION,
                    self.limits.loop_iterations,
                    flags::LOOP_ITERATIONS
                );
            }
            outcome.error = Some(e);
            return outcome;
        }

        let value = match root_promise.map(|p| p.state()) {
            Some(PromiseState::Fulfilled(v)) => v,
            Some(PromiseState::Rejected(reason)) => {
                outcome.error = Some(js_error(&JsError::from_opaque(reason), context));
                return outcome;
            }
            Some(PromiseState::Pending) => unreachable!("loop exits only when settled"),
            None => root,
        };
        self.finish_result(value, &converter, context, &mut outcome);
        outcome
    }

    fn finish_result(
        &self,
        value: JsValue,
        converter: &Converter,
        context: &mut Context,
        outcome: &mut Outcome,
    ) {
        let max = self.limits.max_result_bytes;
        // Convert up to a hard ceiling; beyond it the size is a lower bound.
        let ceiling = max.saturating_mul(8).max(8 * 1024 * 1024);
        let opts = ConvertOptions {
            max_depth: self.limits.max_depth,
            max_bytes: ceiling,
        };
        let converted = match converter.convert(&value, opts, context) {
            Ok(c) => c,
            Err(err) => {
                outcome.error = match self.check(Err(err), context) {
                    Step::Stop(e) => Some(e),
                    Step::Ok => None,
                };
                return;
            }
        };
        if let Step::Stop(e) = self.check(Ok(()), context) {
            outcome.error = Some(e);
            return;
        }
        let size = serde_json::to_string(&converted.value)
            .map(|s| s.len())
            .unwrap_or(usize::MAX);
        if size > max || converted.truncated {
            outcome.result = Some(convert::shrink_to_fit(&converted.value, max));
            outcome.result_truncated = Some(TruncationInfo {
                original_bytes: size.max(converted.approx_bytes),
                max_bytes: max,
                exact: !converted.truncated,
            });
        } else {
            outcome.result = Some(converted.value);
        }
    }

    /// Submits queued calls while the in-flight window has room.
    fn flush(&mut self, context: &mut Context, st: &Rc<RefCell<State>>) {
        loop {
            let call = {
                let mut s = st.borrow_mut();
                if s.in_flight >= s.limits.max_in_flight.max(1) {
                    return;
                }
                match s.queued.pop_front() {
                    Some(c) => c,
                    None => return,
                }
            };
            match self.bridge.submit(call.id, &call.tool, call.args) {
                Ok(()) => st.borrow_mut().in_flight += 1,
                Err(msg) => {
                    // Reject just this call; the promise jobs run in the loop.
                    st.borrow_mut().in_flight += 1;
                    let err = serde_json::json!({
                        "error": msg,
                        "code": "BRIDGE_ERROR",
                        "recoverable": false,
                    });
                    let _ = settle(context, st, call.id, Err(err));
                }
            }
        }
    }
}
