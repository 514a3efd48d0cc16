// pgmcp Code Mode prelude.
//
// Evaluated in every fresh sandbox realm before user code. This script evaluates to a
// setup function that the host calls once with:
//   natives  { call(tool, argsJson) -> Promise, log(level, argsArray) }
//            host functions; they are only ever reachable through this closure (never from
//            the global object).
//   manifest { entries: [{ tool, group, method, primary }],
//              aliases: [{ name, tool, positional: [..] }],
//              helpText: string | null }
// It installs the `pg` and `console` globals. Everything it needs from the standard library
// is captured here, before user code can replace it.
(function pgmcpPrelude(natives, manifest) {
  "use strict";
  const nativeCall = natives.call;
  const nativeLog = natives.log;
  const stringify = JSON.stringify;
  const freeze = Object.freeze;
  const create = Object.create;
  const defineProperty = Object.defineProperty;
  const isArray = Array.isArray;
  const PromiseCtor = Promise;
  const rejectWith = (err) => new PromiseCtor((_, reject) => reject(err));
  const global = globalThis;

  // One call to the host. Arguments cross as JSON text only; a throwing getter, toJSON,
  // proxy trap or a BigInt just rejects this call.
  function invoke(tool, args) {
    let json;
    try {
      json = args === undefined ? "{}" : stringify(args);
    } catch (err) {
      return rejectWith(err);
    }
    return nativeCall(tool, json === undefined ? "{}" : json);
  }

  function groupMethod(entry) {
    const tool = entry.tool;
    const primary = entry.primary;
    const name = entry.method;
    // Method shorthand: named, not a constructor.
    return {
      [name](args) {
        if (typeof args === "string" && primary !== null && primary !== undefined) {
          const obj = create(null);
          obj[primary] = args;
          args = obj;
        }
        return invoke(tool, args);
      },
    }[name];
  }

  function aliasMethod(alias) {
    const tool = alias.tool;
    const positional = alias.positional;
    const name = alias.name;
    return {
      [name](...argv) {
        let args;
        const first = argv[0];
        if (
          argv.length === 1 &&
          first !== null &&
          typeof first === "object" &&
          !isArray(first)
        ) {
          args = first;
        } else {
          args = create(null);
          for (let i = 0; i < positional.length && i < argv.length; i++) {
            if (argv[i] !== undefined) args[positional[i]] = argv[i];
          }
        }
        return invoke(tool, args);
      },
    }[name];
  }

  const pg = create(null);
  const groups = create(null);
  const groupNames = [];
  for (let i = 0; i < manifest.entries.length; i++) {
    const entry = manifest.entries[i];
    let group = groups[entry.group];
    if (group === undefined) {
      group = create(null);
      groups[entry.group] = group;
      groupNames.push(entry.group);
    }
    group[entry.method] = groupMethod(entry);
  }
  const entriesByGroup = create(null);
  for (let i = 0; i < manifest.entries.length; i++) {
    const entry = manifest.entries[i];
    (entriesByGroup[entry.group] || (entriesByGroup[entry.group] = [])).push(entry);
  }

  function describeEntry(entry) {
    const arg = entry.primary ? "args | " + entry.primary : "args";
    return "  pg." + entry.group + "." + entry.method + "(" + arg + ")  [" + entry.tool + "]";
  }

  function help(groupName) {
    if (groupName === undefined || groupName === null || groupName === "") {
      if (typeof manifest.helpText === "string") return manifest.helpText;
      const lines = ["pg.* API. Every call returns a Promise; await it.", ""];
      if (manifest.aliases.length > 0) {
        lines.push("Shortcuts:");
        for (let i = 0; i < manifest.aliases.length; i++) {
          const a = manifest.aliases[i];
          lines.push("  pg." + a.name + "(" + a.positional.join(", ") + ")  [" + a.tool + "]");
        }
        lines.push("");
      }
      lines.push("Groups (pg.help('group') lists methods):");
      for (let i = 0; i < groupNames.length; i++) {
        const g = groupNames[i];
        const methods = entriesByGroup[g];
        const names = [];
        for (let j = 0; j < methods.length; j++) names.push(methods[j].method);
        lines.push("  " + g + ": " + names.join(", "));
      }
      return lines.join("\n");
    }
    const key = String(groupName);
    const methods = entriesByGroup[key];
    if (methods === undefined) {
      return "Unknown group '" + key + "'. Groups: " + groupNames.join(", ");
    }
    const lines = ["pg." + key + " methods (args is the tool's input object; a string maps to the primary parameter):"];
    for (let i = 0; i < methods.length; i++) lines.push(describeEntry(methods[i]));
    return lines.join("\n");
  }

  for (let i = 0; i < groupNames.length; i++) {
    const g = groupNames[i];
    pg[g] = freeze(groups[g]);
  }
  for (let i = 0; i < manifest.aliases.length; i++) {
    const a = manifest.aliases[i];
    if (pg[a.name] === undefined) pg[a.name] = aliasMethod(a);
  }
  pg.help = { help(group) { return help(group); } }.help;
  freeze(pg);

  function logger(level) {
    return {
      [level](...args) {
        nativeLog(level, args);
      },
    }[level];
  }
  const consoleObj = {
    log: logger("log"),
    info: logger("info"),
    warn: logger("warn"),
    error: logger("error"),
    debug: logger("debug"),
    trace: logger("debug"),
  };

  defineProperty(global, "pg", {
    value: pg,
    writable: false,
    enumerable: false,
    configurable: false,
  });
  defineProperty(global, "console", {
    value: consoleObj,
    writable: true,
    enumerable: false,
    configurable: true,
  });
})
