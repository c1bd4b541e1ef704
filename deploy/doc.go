// Package deploy holds example deployments of roster-collector on
// PostgreSQL: compose.yaml (two collectors and the database) and
// kubernetes/ (a two-replica Deployment, its Service and Secret). The Go
// test beside them parses every file and checks each collector
// configuration they carry with the collector's own validation, so the
// examples cannot drift from the configuration format.
package deploy
