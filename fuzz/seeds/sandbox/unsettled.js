// A promise that never settles, and a rejected promise nobody handles.
Promise.reject(new Error("ignored"));
await new Promise(() => {});
