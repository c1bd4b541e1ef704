package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/rosterhq/roster/collector/config"
	"github.com/rosterhq/roster/collector/registry"
)

// storeOf is the registry's store as the configuration names it: SQLite
// in dataDir/roster.db, or the PostgreSQL database of store.dsn.
func storeOf(s config.Store, dataDir string) registry.StoreConfig {
	if s.Engine == config.StorePostgres {
		return registry.StoreConfig{Engine: registry.EnginePostgres, DSN: s.DSN}
	}
	return registry.StoreConfig{Engine: registry.EngineSQLite, Path: filepath.Join(dataDir, dbFile)}
}

// store returns the data directory and the store the flags name: --data
// or the --config file's data_dir, and the file's store (SQLite in the
// data directory without one).
func (d *dataFlags) store() (string, registry.StoreConfig, error) {
	c := config.Default()
	if d.configFile != "" {
		if err := config.LoadFile(d.configFile, &c); err != nil {
			return "", registry.StoreConfig{}, err
		}
		if err := c.Store.Validate(); err != nil {
			return "", registry.StoreConfig{}, usageErrorf("%s: %s", d.configFile, err)
		}
	}
	if d.data != "" {
		c.DataDir = d.data
	}
	if c.DataDir == "" {
		return "", registry.StoreConfig{}, usageErrorf("--data DIR is required")
	}
	return c.DataDir, storeOf(c.Store, c.DataDir), nil
}

// existingStore is existingDB for either engine: a PostgreSQL database
// that does not exist fails to open instead.
func existingStore(sc registry.StoreConfig) error {
	if sc.Engine == registry.EnginePostgres {
		return nil
	}
	_, err := existingDB(filepath.Dir(sc.Path))
	return err
}

// openCurrent opens the existing store the flags name for a maintenance
// command that writes to it: it refuses a store that does not exist (a
// mistyped --data) or whose schema is behind this binary's.
func (d *dataFlags) openCurrent(ctx context.Context, stderr io.Writer) (*registry.Registry, error) {
	dir, sc, err := d.store()
	if err != nil {
		return nil, err
	}
	if err := existingStore(sc); err != nil {
		return nil, err
	}
	if err := prepareDataDir(dir); err != nil {
		return nil, err
	}
	reg, err := registry.OpenStore(ctx, sc, newLogger(stderr, "warn", "auto"))
	if err != nil {
		return nil, err
	}
	if err := reg.Ready(ctx); err != nil {
		reg.Close()
		return nil, fmt.Errorf("%w: run `roster-collector migrate` first", err)
	}
	return reg, nil
}
