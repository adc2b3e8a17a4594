// The better-auth side of bench/peers.sh: email and password plus the JWT plugin on a pg Pool,
// mounted on a plain Node http server, using only better-auth's documented options.
//
// Environment: DATABASE_URL, PORT, BETTER_AUTH_SECRET (at least 32 characters),
// PASSWORD_HASH (bcrypt, the default here, or scrypt, better-auth's own default),
// BCRYPT_COST (12), POOL_SIZE (20, split across the workers), WORKERS (the number of cores).
import cluster from "node:cluster";
import http from "node:http";
import { availableParallelism } from "node:os";

import bcrypt from "bcryptjs";
import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import { toNodeHandler } from "better-auth/node";
import { jwt } from "better-auth/plugins";
import { createRemoteJWKSet, jwtVerify } from "jose";
import pg from "pg";

const port = Number(process.env.PORT ?? 3000);
const workers = Number(process.env.WORKERS ?? availableParallelism());
const poolSize = Number(process.env.POOL_SIZE ?? 20);
const bcryptCost = Number(process.env.BCRYPT_COST ?? 12);
const baseURL = `http://127.0.0.1:${port}`;

// bcryptjs through the documented `password` hook, so the login row hashes like auth-service
// does (bcrypt, same cost); without it better-auth uses its default, scrypt.
const bcryptHasher = {
  hash: (password) => bcrypt.hash(password, bcryptCost),
  verify: ({ hash, password }) => bcrypt.compare(password, hash),
};

function createAuth(connections) {
  return betterAuth({
    baseURL,
    secret: process.env.BETTER_AUTH_SECRET,
    database: new pg.Pool({ connectionString: process.env.DATABASE_URL, max: connections }),
    emailAndPassword: {
      enabled: true,
      // auth-service's /auth/register creates the account only; signing in is the login row.
      autoSignIn: false,
      password: process.env.PASSWORD_HASH === "scrypt" ? undefined : bcryptHasher,
    },
    // The benchmark drives one client address far past any budget.
    rateLimit: { enabled: false },
    telemetry: { enabled: false },
    plugins: [
      // get-session would otherwise sign a JWT into `set-auth-jwt` on every call; the token row
      // measures signing on its own (GET /api/auth/token).
      jwt({ disableSettingJwtHeader: true }),
    ],
  });
}

// The resource-server side the JWT plugin's docs recommend: verify with the published JWKS
// (fetched once, then cached by jose), no call back to better-auth and no database.
function tokenValidator() {
  const keys = createRemoteJWKSet(new URL(`${baseURL}/api/auth/jwks`));
  return async (request, response) => {
    const [scheme, token] = (request.headers.authorization ?? "").split(" ");
    try {
      if (scheme?.toLowerCase() !== "bearer" || !token) throw new Error("no bearer token");
      const { payload } = await jwtVerify(token, keys, { issuer: baseURL, audience: baseURL });
      response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(payload));
    } catch {
      response.writeHead(401, { "content-type": "application/json" }).end('{"error":"invalid_token"}');
    }
  };
}

function serve(auth) {
  const authHandler = toNodeHandler(auth);
  const validate = tokenValidator();
  http
    .createServer((request, response) =>
      request.url.startsWith("/api/auth/") ? authHandler(request, response) : validate(request, response),
    )
    .listen(port, "127.0.0.1");
}

if (cluster.isPrimary) {
  // Tables and the signing key once, before any worker serves: workers racing to create the
  // first key would publish two.
  const auth = createAuth(1);
  const { runMigrations } = await getMigrations(auth.options);
  await runMigrations();
  await auth.api.getJwks();
  await auth.options.database.end();
  if (workers <= 1) {
    serve(createAuth(poolSize));
  } else {
    for (let worker = 0; worker < workers; worker += 1) cluster.fork();
    cluster.on("exit", (_, code) => process.exit(code ?? 1));
  }
} else {
  serve(createAuth(Math.max(1, Math.floor(poolSize / workers))));
}
