//! The engine's host side: [`SandboxHooks`] (Boa's `HostHooks`: string compilation refused,
//! UTC as the local time zone, the ArrayBuffer cap, and the watch on `await` continuations that
//! may have swallowed an engine error) and [`JobQueue`], the FIFO promise-job queue the run
//! loop drains itself. Both report to the run loop through the shared [`Signals`] counters.
//! This is what Boa calls back into, not anything the script can reach.

use std::{
    cell::{Cell, RefCell},
    collections::VecDeque,
    rc::Rc,
    task::{Context as TaskContext, Poll, Waker},
};

use boa_engine::{
    Context, JsNativeError, JsResult, JsString, JsValue,
    context::HostHooks,
    job::{Job, JobCallback, JobExecutor},
    native_function::NativeFunctionObject,
    realm::Realm,
};

use super::MAX_BUFFER_BYTES;

/// Counters the hooks and the executor share with the run loop.
#[derive(Default)]
pub(super) struct Signals {
    /// `make_job_callback` calls (a promise reaction was registered).
    reactions: Cell<u64>,
    /// Jobs enqueued.
    enqueued: Cell<u64>,
    /// An `await` continuation ran a lot of code and left nothing behind: the async
    /// function most likely died of a swallowed engine error.
    pub(super) suspect_swallowed: Cell<bool>,
}

/// Boa's host hooks for a sandbox realm.
pub(super) struct SandboxHooks {
    pub(super) signals: Rc<Signals>,
    /// Lift the loop limit inside native job callbacks (`await` continuations), where Boa
    /// would swallow the error; only when an instruction budget backs it up.
    pub(super) relax_loops_in_continuations: bool,
    /// Instructions an `await` continuation must consume, leaving nothing behind, to be
    /// suspected of a swallowed engine error.
    pub(super) suspect_threshold: usize,
}

impl HostHooks for SandboxHooks {
    fn make_job_callback(
        &self,
        callback: boa_engine::object::builtins::JsFunction,
        _context: &mut Context,
    ) -> JobCallback {
        self.signals.reactions.set(self.signals.reactions.get() + 1);
        JobCallback::new(callback, ())
    }

    fn call_job_callback(
        &self,
        job: &JobCallback,
        this: &JsValue,
        args: &[JsValue],
        context: &mut Context,
    ) -> JsResult<JsValue> {
        let callback = job.callback();
        // Boa-internal closures (await continuations, resolving functions, Promise.all
        // elements) are native; user callbacks are ordinary/bound functions whose engine
        // errors propagate out of the job normally.
        if !callback.is::<NativeFunctionObject>() {
            return callback.call(this, args, context);
        }
        let before_instr = context.instructions_remaining();
        let before_reactions = self.signals.reactions.get();
        let before_enqueued = self.signals.enqueued.get();
        let result = if self.relax_loops_in_continuations {
            let prev = context.runtime_limits().loop_iteration_limit();
            context
                .runtime_limits_mut()
                .set_loop_iteration_limit(u64::MAX);
            let r = callback.call(this, args, context);
            context.runtime_limits_mut().set_loop_iteration_limit(prev);
            r
        } else {
            callback.call(this, args, context)
        };
        let used = before_instr.saturating_sub(context.instructions_remaining());
        if used >= self.suspect_threshold
            && self.signals.reactions.get() == before_reactions
            && self.signals.enqueued.get() == before_enqueued
        {
            self.signals.suspect_swallowed.set(true);
        }
        result
    }

    fn ensure_can_compile_strings(
        &self,
        _realm: Realm,
        _parameters: &[JsString],
        _body: &JsString,
        _direct: bool,
        _context: &mut Context,
    ) -> JsResult<()> {
        Err(JsNativeError::eval()
            .with_message("code generation from strings is disabled in Code Mode")
            .into())
    }

    fn local_timezone_offset_seconds(&self, _unix_time_seconds: i64) -> i32 {
        0
    }

    fn max_buffer_size(&self, _context: &mut Context) -> u64 {
        MAX_BUFFER_BYTES
    }
}

/// FIFO job queue; the run loop drains it. Timers and finalization jobs are dropped (the
/// sandbox has neither).
#[derive(Default)]
pub(super) struct JobQueue {
    pub(super) jobs: RefCell<VecDeque<Job>>,
    pub(super) signals: Rc<Signals>,
}

impl JobQueue {
    pub(super) fn pop(&self) -> Option<Job> {
        self.jobs.borrow_mut().pop_front()
    }

    pub(super) fn clear(&self) {
        // Dropping jobs can drop GC objects; do it outside the borrow.
        let jobs = std::mem::take(&mut *self.jobs.borrow_mut());
        drop(jobs);
    }
}

impl JobExecutor for JobQueue {
    fn enqueue_job(self: Rc<Self>, job: Job, _context: &mut Context) {
        match job {
            Job::PromiseJob(_) | Job::GenericJob(_) | Job::AsyncJob(_) => {
                self.signals.enqueued.set(self.signals.enqueued.get() + 1);
                self.jobs.borrow_mut().push_back(job);
            }
            _ => {}
        }
    }

    fn run_jobs(self: Rc<Self>, context: &mut Context) -> JsResult<()> {
        while let Some(job) = self.pop() {
            run_job(job, context)?;
        }
        Ok(())
    }
}

/// Runs one job. Async jobs (dynamic `import()` with the idle loader) complete without
/// waiting; one that would wait is abandoned.
pub(super) fn run_job(job: Job, context: &mut Context) -> JsResult<()> {
    match job {
        Job::PromiseJob(job) => job.call(context).map(drop),
        Job::GenericJob(job) => job.call(context).map(drop),
        Job::AsyncJob(job) => {
            let cell = RefCell::new(context);
            let mut fut = job.call(&cell);
            let mut cx = TaskContext::from_waker(Waker::noop());
            for _ in 0..64 {
                if let Poll::Ready(r) = std::pin::Pin::new(&mut fut).poll(&mut cx) {
                    return r.map(drop);
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
