// Asks for the secret: the canary may appear in this outcome only.
const s = await pg.admin.readSecret();
globalThis.stash = s;
Object.prototype.stash = s.secret;
return s.secret.length;
