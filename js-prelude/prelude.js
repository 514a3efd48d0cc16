// pgmcp Code Mode prelude, evaluated in every fresh sandbox realm before user code.
// It evaluates to a setup function that the host calls once with:
//   natives: { call(tool, argsJson) -> Promise, log(level, argsArray) } (host functions,
//            reachable only through this closure, never from the global object)
//   api:     { groups: [[group, [[method, tool, primary|null], ...]], ...],
//              aliases: [[name, tool, [param, ...]], ...],
//              help: { index: string, known: string, groups: { group: string } } }
// It installs `pg` (group objects are built on first access) and `console`. Standard
// library functions it relies on are captured before user code can replace them.
// Keep it small: Boa parses it on every run.
(function (natives, api) {
  "use strict";
  const call = natives.call, nativeLog = natives.log, stringify = JSON.stringify;
  const freeze = Object.freeze, create = Object.create, define = Object.defineProperty;
  const isArray = Array.isArray, P = Promise;

  // Arguments cross as JSON text only: a throwing getter, toJSON, proxy trap or BigInt
  // rejects just this call. Calls made through a `tx` object carry its transaction id.
  function invoke(tool, args, txId) {
    let json;
    try {
      if (txId !== null) {
        const o = create(null);
        if (args !== undefined && args !== null) for (const k in args) o[k] = args[k];
        o.__pgmcp_tx = txId;
        args = o;
      }
      json = args === undefined ? "{}" : stringify(args);
    } catch (err) {
      return new P((_, reject) => reject(err));
    }
    return call(tool, json === undefined ? "{}" : json);
  }

  // Method shorthand: named, and not a constructor.
  function method(name, tool, primary, txId) {
    return {
      [name](args) {
        if (typeof args === "string" && primary !== null) {
          const o = create(null);
          o[primary] = args;
          args = o;
        }
        return invoke(tool, args, txId);
      },
    }[name];
  }

  function alias(name, tool, params, txId) {
    return {
      [name](...argv) {
        let args = argv[0];
        if (argv.length !== 1 || args === null || typeof args !== "object" || isArray(args)) {
          args = create(null);
          for (let i = 0; i < params.length && i < argv.length; i++) {
            if (argv[i] !== undefined) args[params[i]] = argv[i];
          }
        }
        return invoke(tool, args, txId);
      },
    }[name];
  }

  // `pg`, or (with a transaction id) the `tx` handed to pg.transaction's callback: the
  // same API, every call pinned to that transaction's connection.
  function makeApi(txId) {
    const o = create(null);
    for (const [group, methods] of api.groups) {
      let built;
      define(o, group, {
        enumerable: true,
        get() {
          if (built === undefined) {
            // Runs after user code: no iterators, nothing user-replaceable.
            built = create(null);
            for (let i = 0; i < methods.length; i++) {
              const m = methods[i];
              built[m[0]] = method(m[0], m[1], m[2], txId);
            }
            freeze(built);
          }
          return built;
        },
      });
    }
    for (const [name, tool, params] of api.aliases) {
      if (!(name in o)) o[name] = alias(name, tool, params, txId);
    }
    return o;
  }

  const TX = "__transaction";
  const pg = makeApi(null);
  pg.transaction = {
    async transaction(fn) {
      if (typeof fn !== "function") {
        throw new TypeError("pg.transaction needs a function: pg.transaction(async (tx) => { ... })");
      }
      const begin = await invoke(TX, { op: "begin" }, null);
      const id = begin.transactionId;
      let value;
      try {
        value = await fn(freeze(makeApi(id)));
      } catch (err) {
        try {
          await invoke(TX, { op: "rollback", id }, null);
        } catch (_) {
          // The original error is the one worth reporting.
        }
        throw err;
      }
      await invoke(TX, { op: "commit", id }, null);
      return value;
    },
  }.transaction;
  const help = api.help;
  pg.help = {
    help(group) {
      if (group === undefined || group === null || group === "") return help.index;
      const text = help.groups[String(group)];
      return typeof text === "string" ? text : "Unknown group '" + String(group) + "'. " + help.known;
    },
  }.help;
  freeze(pg);

  const log = (level) => ({ [level](...args) { nativeLog(level, args); } })[level];
  const console = {
    log: log("log"), info: log("info"), warn: log("warn"),
    error: log("error"), debug: log("debug"), trace: log("debug"),
  };
  define(globalThis, "pg", { value: pg });
  define(globalThis, "console", { value: console, writable: true, configurable: true });
})
