//! Building a realm before any user code runs, and tearing it down: [`Live`] is a Boa context
//! with the sandbox's host hooks, job queue and instruction budget, its runtime limits set, the
//! host-ish globals removed ([`harden_realm`]) and the prelude evaluated and handed the natives
//! and the manifest ([`install_prelude`]), which builds `pg` and `console`. None of it runs
//! user code, so a worker can do it ahead of time ([`Prepared`](super::Prepared)).

use std::{
    cell::RefCell,
    collections::HashMap,
    panic::{AssertUnwindSafe, catch_unwind},
    path::Path,
    rc::Rc,
};

use boa_engine::{
    Context, JsString, JsValue, Script, Source,
    context::ContextBuilder,
    js_string,
    module::IdleModuleLoader,
    native_function::NativeFunction,
    object::{FunctionObjectBuilder, ObjectInitializer},
    property::{Attribute, PropertyKey},
};
use serde_json::Value;

use super::bridge::{State, StateHandle, native_call, native_log};
use super::hooks::{JobQueue, SandboxHooks, Signals};
use super::{Manifest, ManifestEntry, SandboxError, SandboxLimits, codes};
use crate::codemode::convert::Converter;

/// The prelude that builds `pg` and `console`.
const PRELUDE: &str = include_str!("../../../js-prelude/prelude.js");

/// Instructions granted on top of the user's budget for the prelude itself (its actual use
/// is a few hundred instructions per manifest entry).
const PRELUDE_BASE_ALLOWANCE: u64 = 100_000;
const PRELUDE_PER_ENTRY_ALLOWANCE: u64 = 2_000;

const PRELUDE_NAME: &str = "pgmcp-prelude.js";

/// A built realm: the context and the host objects that outlive the build.
pub(super) struct Live {
    /// `ManuallyDrop`: a context left inconsistent by an engine panic is leaked instead.
    pub(super) context: std::mem::ManuallyDrop<Context>,
    pub(super) jobs: Rc<JobQueue>,
    pub(super) signals: Rc<Signals>,
    pub(super) st: Rc<RefCell<State>>,
    pub(super) converter: Rc<Converter>,
    pub(super) poisoned: bool,
}

impl Live {
    pub(super) fn build(manifest: &Manifest, limits: &SandboxLimits) -> Result<Live, SandboxError> {
        let signals = Rc::new(Signals::default());
        let jobs = Rc::new(JobQueue {
            jobs: RefCell::default(),
            signals: signals.clone(),
        });
        let hooks = Rc::new(SandboxHooks {
            signals: signals.clone(),
            relax_loops_in_continuations: limits.instruction_budget.is_some(),
            suspect_threshold: limits.recursion.max(64),
        });
        let allowance = PRELUDE_BASE_ALLOWANCE
            + PRELUDE_PER_ENTRY_ALLOWANCE
                * (manifest.entries.len() + manifest.aliases.len()) as u64;
        let budget = match limits.instruction_budget {
            Some(b) => usize::try_from(b.saturating_add(allowance)).unwrap_or(usize::MAX),
            None => usize::MAX,
        };
        let engine_failed =
            || SandboxError::new(codes::ENGINE_ERROR, "the JavaScript engine failed to start");
        let built = catch_unwind(AssertUnwindSafe(|| {
            ContextBuilder::new()
                .host_hooks(hooks)
                .job_executor(jobs.clone())
                .module_loader(Rc::new(IdleModuleLoader))
                .instructions_remaining(budget)
                .build()
        }));
        let mut context = match built {
            Ok(Ok(c)) => std::mem::ManuallyDrop::new(c),
            _ => return Err(engine_failed()),
        };
        let set_up = catch_unwind(AssertUnwindSafe(|| {
            set_up_realm(&mut context, manifest, limits)
        }));
        match set_up {
            Ok(Ok((st, converter))) => Ok(Live {
                context,
                jobs,
                signals,
                st,
                converter,
                poisoned: false,
            }),
            Ok(Err(msg)) => {
                jobs.clear();
                let context = std::mem::ManuallyDrop::into_inner(context);
                let _ = catch_unwind(AssertUnwindSafe(|| drop(context)));
                Err(SandboxError::new(codes::ENGINE_ERROR, msg))
            }
            // The context may be inconsistent: it is leaked (never dropped).
            Err(_) => Err(engine_failed()),
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if self.poisoned {
            // The context may be inconsistent: do not run its destructors.
            return;
        }
        // Release GC roots held by the host before the context goes away.
        self.jobs.clear();
        if let Some(h) = self.context.remove_data::<StateHandle>()
            && let Ok(mut s) = h.0.try_borrow_mut()
        {
            s.pending.clear();
        }
        // SAFETY: the context is dropped once, here, and never used again.
        let context = unsafe { std::mem::ManuallyDrop::take(&mut self.context) };
        if catch_unwind(AssertUnwindSafe(|| drop(context))).is_err() {
            // Leaked; nothing else to do.
        }
        // Free this run's objects now rather than at some later run's allocation.
        let _ = catch_unwind(boa_engine::gc::force_collect);
    }
}

/// Limits, host state, hardening and the prelude: everything a realm needs before user code.
fn set_up_realm(
    context: &mut Context,
    manifest: &Manifest,
    limits: &SandboxLimits,
) -> Result<(Rc<RefCell<State>>, Rc<Converter>), String> {
    {
        let rl = context.runtime_limits_mut();
        rl.set_loop_iteration_limit(limits.loop_iterations);
        rl.set_recursion_limit(limits.recursion);
        rl.set_stack_size_limit((limits.recursion.saturating_mul(256)).max(10 * 1024));
    }
    let converter = Rc::new(Converter::new(context));
    let st = Rc::new(RefCell::new(State::new(limits, converter.clone())));
    context.insert_data(StateHandle(st.clone()));
    harden_realm(context).and_then(|()| install_prelude(context, manifest))?;
    Ok((st, converter))
}

/// Removes host-ish globals.
fn harden_realm(context: &mut Context) -> Result<(), String> {
    let global = context.global_object();
    for name in [
        "SharedArrayBuffer",
        "Atomics",
        "WeakRef",
        "FinalizationRegistry",
        "Temporal",
    ] {
        global
            .delete_property_or_throw(PropertyKey::from(JsString::from(name)), context)
            .map_err(|_| format!("could not remove {name}"))?;
    }
    Ok(())
}

/// The manifest in the compact shape the prelude expects (see `js-prelude/prelude.js`),
/// with the `pg.help()` texts rendered here rather than in JS (the prelude is parsed on
/// every run, so it is kept small).
fn prelude_api(manifest: &Manifest) -> Value {
    let mut order: Vec<&str> = Vec::new();
    let mut by_group: HashMap<&str, Vec<&ManifestEntry>> = HashMap::new();
    for e in &manifest.entries {
        let list = by_group.entry(e.group.as_str()).or_default();
        if list.is_empty() {
            order.push(e.group.as_str());
        }
        list.push(e);
    }
    let groups: Vec<Value> = order
        .iter()
        .map(|g| {
            let methods: Vec<Value> = by_group[g]
                .iter()
                .map(|e| serde_json::json!([e.method, e.tool, e.primary]))
                .collect();
            serde_json::json!([g, methods])
        })
        .collect();
    let aliases: Vec<Value> = manifest
        .aliases
        .iter()
        .map(|a| serde_json::json!([a.name, a.tool, a.positional, a.shape]))
        .collect();

    let mut group_help = serde_json::Map::new();
    for g in &order {
        let mut text = format!(
            "pg.{g} methods (args is the tool's input object; a string maps to the primary \
             parameter):"
        );
        for e in &by_group[g] {
            let arg = match &e.primary {
                Some(p) => format!("args | {p}"),
                None => "args".to_string(),
            };
            text.push_str(&format!("\n  pg.{g}.{}({arg})  [{}]", e.method, e.tool));
        }
        let text = manifest.group_help.get(*g).cloned().unwrap_or(text);
        group_help.insert((*g).to_string(), Value::String(text));
    }
    let docs: Vec<Value> = manifest
        .docs
        .iter()
        .map(|d| serde_json::json!([d.key, d.summary, d.text]))
        .collect();
    let index = match &manifest.help_text {
        Some(t) => t.clone(),
        None => {
            let mut lines = vec![
                "pg.* API. Every call returns a Promise; await it.".to_string(),
                String::new(),
            ];
            if !manifest.aliases.is_empty() {
                lines.push("Shortcuts:".into());
                for a in &manifest.aliases {
                    lines.push(format!(
                        "  pg.{}({})  [{}]",
                        a.name,
                        a.positional.join(", "),
                        a.tool
                    ));
                }
                lines.push(String::new());
            }
            lines.push("Groups (pg.help('group') lists methods):".into());
            for g in &order {
                let names: Vec<&str> = by_group[g].iter().map(|e| e.method.as_str()).collect();
                lines.push(format!("  {g}: {}", names.join(", ")));
            }
            lines.join("\n")
        }
    };
    serde_json::json!({
        "groups": groups,
        "aliases": aliases,
        "help": {
            "index": index,
            "known": format!("Groups: {}", order.join(", ")),
            "groups": group_help,
            "docs": docs,
        },
    })
}

/// Evaluates the prelude and calls it with the natives and the manifest.
fn install_prelude(context: &mut Context, manifest: &Manifest) -> Result<(), String> {
    let setup = Script::parse(
        Source::from_bytes(PRELUDE).with_path(Path::new(PRELUDE_NAME)),
        None,
        context,
    )
    .and_then(|s| s.evaluate(context))
    .map_err(|e| format!("prelude failed to load: {e}"))?;
    let setup = setup
        .as_function()
        .ok_or_else(|| "prelude did not evaluate to a function".to_string())?;

    let call =
        FunctionObjectBuilder::new(context.realm(), NativeFunction::from_fn_ptr(native_call))
            .name(js_string!("call"))
            .length(2)
            .build();
    let log = FunctionObjectBuilder::new(context.realm(), NativeFunction::from_fn_ptr(native_log))
        .name(js_string!("log"))
        .length(2)
        .build();
    let natives = ObjectInitializer::new(context)
        .property(js_string!("call"), call, Attribute::empty())
        .property(js_string!("log"), log, Attribute::empty())
        .build();
    let manifest_js = JsValue::from_json(&prelude_api(manifest), context)
        .map_err(|e| format!("manifest: {e}"))?;
    setup
        .call(
            &JsValue::undefined(),
            &[natives.into(), manifest_js],
            context,
        )
        .map_err(|e| format!("prelude setup failed: {e}"))?;
    Ok(())
}
