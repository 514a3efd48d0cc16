// pgmcp Code Mode prelude, evaluated in every fresh sandbox realm before user code.
// It evaluates to a setup function that the host calls once with:
//   natives: { call(tool, argsJson) -> Promise, log(level, argsArray) } (host functions,
//            reachable only through this closure, never from the global object)
//   api:     { groups: [[group, [[method, tool, primary|null], ...]], ...],
//              aliases: [[name, tool, [param, ...], shape|null], ...],
//              help: { index: string, known: string, groups: { group: string },
//                      docs: [[key, summary, text], ...] } }
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
  // A shortcut's `shape` asks the host for the natural result (an array of tables, …).
  function invoke(tool, args, txId, shape) {
    let json;
    try {
      if (txId !== null || shape) {
        const o = create(null);
        if (args !== undefined && args !== null) for (const k in args) o[k] = args[k];
        if (txId !== null) o.__pgmcp_tx = txId;
        if (shape) o.__pgmcp_shape = shape;
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

  function alias(name, tool, params, shape, txId) {
    return {
      [name](...argv) {
        let args = argv[0];
        if (argv.length !== 1 || args === null || typeof args !== "object" || isArray(args)) {
          args = create(null);
          for (let i = 0; i < params.length && i < argv.length; i++) {
            if (argv[i] !== undefined) args[params[i]] = argv[i];
          }
        }
        return invoke(tool, args, txId, shape);
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
    for (const [name, tool, params, shape] of api.aliases) {
      if (!(name in o)) o[name] = alias(name, tool, params, shape, txId);
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
  const docs = help.docs || [];
  pg.describe = {
    describe(name) {
      const key = String(name).replace(/^pg\./, "");
      for (let i = 0; i < docs.length; i++) if (docs[i][0] === key) return docs[i][2];
      return "Unknown method '" + key + "'. pg.search('words') finds methods; pg.help() lists them.";
    },
  }.describe;
  // Ranked by how many of the words a method mentions, then by matches in its name; the
  // whole phrase in a method's title (the line after its declaration) ranks it first.
  pg.search = {
    search(text) {
      const words = String(text).toLowerCase().split(/[^a-z0-9_]+/).filter((w) => w.length > 1);
      // Words are [a-z0-9_] only: safe in a pattern as they are. Whole words: "query plan"
      // is not "query plans".
      const phrase = new RegExp("\\b" + words.join("\\s+") + "\\b");
      const hits = [];
      for (let i = 0; i < docs.length; i++) {
        const name = docs[i][0].toLowerCase(), body = docs[i][2].toLowerCase();
        const lines = body.split("\n");
        const title = lines[lines.findIndex((l) => l.endsWith(";")) + 1] || "";
        let score = words.length > 1 && phrase.test(title) ? 2 * words.length + 1 : 0;
        for (let j = 0; j < words.length; j++) {
          if (body.indexOf(words[j]) >= 0) score += 2;
          if (name.indexOf(words[j]) >= 0) score += 1;
        }
        if (score > 0) hits.push([score, i]);
      }
      hits.sort((a, b) => b[0] - a[0] || a[1] - b[1]);
      const out = [];
      for (let i = 0; i < hits.length && i < 10; i++) {
        const d = docs[hits[i][1]];
        out.push({ method: d[0], summary: d[1] });
      }
      return out;
    },
  }.search;
  freeze(pg);

  const log = (level) => ({ [level](...args) { nativeLog(level, args); } })[level];
  const console = {
    log: log("log"), info: log("info"), warn: log("warn"),
    error: log("error"), debug: log("debug"), trace: log("debug"),
  };
  define(globalThis, "pg", { value: pg });
  define(globalThis, "console", { value: console, writable: true, configurable: true });
})
