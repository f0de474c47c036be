// docker-compose.yml's MongoDB: one user per service, in the service's own database, with
// rights on that database only (dbOwner: read, write, indexes, drop). Run once by the official
// image's entrypoint on an empty data volume, as the root user; the passwords come from the
// environment (infra/kafka/compose-env.sh > .env). docs/deployment.md lists who may do what.
const services = ["proposals", "approvals", "notifications", "console"];
for (const name of services) {
  const password = process.env[`MONGO_SVC_${name.toUpperCase()}_PASSWORD`];
  if (!password) throw new Error(`MONGO_SVC_${name.toUpperCase()}_PASSWORD is not set`);
  const database = `smartcity_${name}`;
  db.getSiblingDB(database).createUser({
    user: `svc-${name}`,
    pwd: password,
    roles: [{ role: "dbOwner", db: database }],
  });
}
