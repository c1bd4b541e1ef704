package registry_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/audit"
	"github.com/rosterhq/roster/collector/registry"
)

// auditEnv is a registry with twelve audited changes and checkpoints after
// the fourth and the eighth, and a raw handle on its database for the
// tampering a person with sqlite3 could do.
type auditEnv struct {
	*env
	db  *sql.DB
	pub ed25519.PublicKey
}

func newAuditEnv(t *testing.T) *auditEnv {
	t.Helper()
	e := newEnv(t)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	sign := func(b []byte) string { return base64.StdEncoding.EncodeToString(ed25519.Sign(priv, b)) }
	ctx := access.WithActor(context.Background(), access.Actor{Principal: access.Principal{ID: "p1", Name: "alice", Kind: access.KindPerson, Role: access.Admin}, Source: "127.0.0.1"})
	for i := range 12 {
		if _, _, err := e.reg.CreateSecret(ctx, "site-"+string(rune('A'+i)), time.Hour, 0, t0); err != nil {
			t.Fatal(err)
		}
		if i == 3 || i == 7 {
			if cp, err := e.reg.Checkpoint(ctx, "k1", sign, time.Now()); err != nil || cp == nil {
				t.Fatalf("checkpoint: %v, %v", cp, err)
			}
			// Nothing new: no checkpoint.
			if cp, _ := e.reg.Checkpoint(ctx, "k1", sign, time.Now()); cp != nil {
				t.Fatalf("checkpoint without new entries: %+v", cp)
			}
		}
	}
	return &auditEnv{env: e, db: e.rawDB(t), pub: pub}
}

func (a *auditEnv) verify(t *testing.T, opt audit.Options) audit.Result {
	t.Helper()
	res, err := a.reg.VerifyAudit(context.Background(), a.pub, nil, opt)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// rechain recomputes every hash from seq on, as someone without the
// signing key would after an edit, to hide it from the chain alone.
func (a *auditEnv) rechain(t *testing.T) {
	t.Helper()
	es, _, err := a.reg.ListAudit(context.Background(), registry.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var prev *audit.Entry
	for i := range es {
		es[i].Seal(prev)
		if _, err := a.db.Exec(`UPDATE audit_log SET prev_hash = $1, hash = $2 WHERE seq = $3`, es[i].PrevHash, es[i].Hash, es[i].Seq); err != nil {
			t.Fatal(err)
		}
		prev = &es[i]
	}
}

func TestAuditLogVerifies(t *testing.T) {
	t.Parallel()
	a := newAuditEnv(t)
	res := a.verify(t, audit.Options{Now: time.Now(), MaxUncovered: time.Hour})
	if !res.OK || res.Entries != 12 || res.Checkpoints != 2 || res.Covered != 8 {
		t.Fatalf("untouched log: %+v, want OK, 12 entries, 2 checkpoints, covered through 8", res)
	}
	es, _, _ := a.reg.ListAudit(context.Background(), registry.AuditFilter{Action: "secret.*"})
	if len(es) != 12 || es[0].PrincipalName != "alice" || es[0].Source != "127.0.0.1" || !strings.Contains(es[0].Detail, `"label":"site-A"`) {
		t.Errorf("first entry %+v", es[0])
	}
}

// TestAuditTamperDetected edits the database with SQL in each way the
// issue names and checks that verification names the first bad entry.
func TestAuditTamperDetected(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		tamper  func(t *testing.T, a *auditEnv)
		opt     audit.Options
		wantSeq int64
		want    string
	}{
		{"edit a field", func(t *testing.T, a *auditEnv) {
			a.db.Exec(`UPDATE audit_log SET principal_name = 'mallory' WHERE seq = 5`)
		}, audit.Options{}, 5, "altered"},
		{"edit the detail", func(t *testing.T, a *auditEnv) {
			a.db.Exec(`UPDATE audit_log SET detail = replace(detail, 'site-J', 'site-Z') WHERE seq = 10`)
		}, audit.Options{}, 10, "altered"},
		{"delete an entry", func(t *testing.T, a *auditEnv) {
			a.db.Exec(`DELETE FROM audit_log WHERE seq = 6`)
		}, audit.Options{}, 6, "missing"},
		{"delete and renumber", func(t *testing.T, a *auditEnv) {
			a.db.Exec(`DELETE FROM audit_log WHERE seq = 6`)
			a.db.Exec(`UPDATE audit_log SET seq = seq - 1 WHERE seq > 6`)
		}, audit.Options{}, 6, "does not follow"},
		{"insert an entry", func(t *testing.T, a *auditEnv) {
			a.db.Exec(`UPDATE audit_log SET seq = seq + 100 WHERE seq >= 3`)
			a.db.Exec(`UPDATE audit_log SET seq = seq - 99 WHERE seq >= 103`)
			a.db.Exec(`INSERT INTO audit_log (seq, at, action, outcome, prev_hash, hash) SELECT 3, at, 'secret.created', 'ok', hash, 'x' FROM audit_log WHERE seq = 2`)
		}, audit.Options{}, 3, "altered"},
		{"reorder two entries", func(t *testing.T, a *auditEnv) {
			a.db.Exec(`UPDATE audit_log SET seq = 1000 WHERE seq = 10`)
			a.db.Exec(`UPDATE audit_log SET seq = 10 WHERE seq = 11`)
			a.db.Exec(`UPDATE audit_log SET seq = 11 WHERE seq = 1000`)
		}, audit.Options{}, 10, "does not follow"},
		{"truncate below a checkpoint", func(t *testing.T, a *auditEnv) {
			a.db.Exec(`DELETE FROM audit_log WHERE seq > 6`)
		}, audit.Options{}, 7, "truncated"},
		{"rewrite the whole chain", func(t *testing.T, a *auditEnv) {
			a.db.Exec(`UPDATE audit_log SET principal_name = 'mallory' WHERE seq = 2`)
			a.rechain(t)
		}, audit.Options{}, 4, "chain rewritten"},
		{"forge a checkpoint", func(t *testing.T, a *auditEnv) {
			a.db.Exec(`UPDATE audit_checkpoints SET seq = 12, hash = (SELECT hash FROM audit_log WHERE seq = 12) WHERE seq = 8`)
		}, audit.Options{}, 0, "bad signature"},
		{"delete checkpoints and rewrite", func(t *testing.T, a *auditEnv) {
			a.db.Exec(`DELETE FROM audit_checkpoints`)
			a.db.Exec(`UPDATE audit_log SET principal_name = 'mallory' WHERE seq = 2`)
			a.db.Exec(`UPDATE audit_log SET at = '2020-01-01T00:00:00.000000000Z'`)
			a.rechain(t)
		}, audit.Options{Now: time.Now(), MaxUncovered: time.Hour}, 1, "covered by no signed checkpoint"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := newAuditEnv(t)
			tc.tamper(t, a)
			res := a.verify(t, tc.opt)
			if res.OK || res.Problem == nil {
				t.Fatalf("tampered log verified: %+v", res)
			}
			if res.Problem.Seq != tc.wantSeq || !strings.Contains(res.Problem.Message, tc.want) {
				t.Errorf("problem %+v, want first bad entry %d and %q", *res.Problem, tc.wantSeq, tc.want)
			}
		})
	}
}

// TestAuditWithChange: the entry commits with its change or not at all.
func TestAuditWithChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.reg.RevokeSecret(ctx, "no-such-secret", t0); err == nil {
		t.Fatal("revoking an unknown secret: got nil error")
	}
	es, _, _ := e.reg.ListAudit(ctx, registry.AuditFilter{})
	if len(es) != 0 {
		t.Errorf("a refused change left %d audit entries: %+v", len(es), es)
	}
	s, _, err := e.reg.CreateSecret(ctx, "lab", 0, 0, t0)
	if err != nil {
		t.Fatal(err)
	}
	es, _, _ = e.reg.ListAudit(ctx, registry.AuditFilter{})
	if len(es) != 1 || es[0].Target != "secret:"+s.ID || es[0].PrincipalKind != access.KindCollector {
		t.Errorf("entries %+v, want one secret.created by the collector", es)
	}
}
