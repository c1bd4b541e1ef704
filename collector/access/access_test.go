package access_test

import (
	"bufio"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/rosterhq/roster/collector/access"
)

// TestRoleTableMatchesDocs reads the role × permission table of
// docs/api.md ("| `perm` — what | ✓ | | ✓ | |", columns admin, helpdesk,
// auditor, automation) and checks Role.Can says the same for every cell.
func TestRoleTableMatchesDocs(t *testing.T) {
	f, err := os.Open("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	row := regexp.MustCompile("^\\| `([a-z.]+)`[^|]*\\|([^|]*)\\|([^|]*)\\|([^|]*)\\|([^|]*)\\|$")
	seen := map[access.Permission]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := row.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		p := access.Permission(m[1])
		seen[p] = true
		for i, role := range access.Roles() {
			doc := strings.TrimSpace(m[i+2]) == "✓"
			if got := role.Can(p); got != doc {
				t.Errorf("%s may %s: code says %v, docs/api.md says %v", role, p, got, doc)
			}
		}
	}
	for _, p := range access.Permissions() {
		if !seen[p] {
			t.Errorf("docs/api.md role table lacks permission %s", p)
		}
	}
}

// TestLeastPrivilege pins the rules the issue states in words.
func TestLeastPrivilege(t *testing.T) {
	cases := []struct {
		role access.Role
		perm access.Permission
		want bool
	}{
		{access.Helpdesk, access.DevicesRead, true},
		{access.Helpdesk, access.ExceptionsRequest, true},
		{access.Helpdesk, access.ExceptionsApprove, false},
		{access.Helpdesk, access.SecretsManage, false},
		{access.Helpdesk, access.TokensManage, false},
		{access.Helpdesk, access.PoliciesWrite, false},
		{access.Helpdesk, access.WipesManage, false},
		{access.Auditor, access.AuditRead, true},
		{access.Auditor, access.AccessReview, true},
		{access.Auditor, access.SecretsManage, false},
		{access.Auditor, access.AssetsWrite, false},
		{access.Automation, access.WipesManage, true},
		{access.Automation, access.WipesRecord, false},
		{access.Automation, access.AuditRead, false},
		{access.Admin, access.WipesRecord, true},
		{access.Admin, access.UsersManage, true},
		{access.Helpdesk, access.UsersManage, false},
		{access.Auditor, access.UsersManage, false},
		{access.Automation, access.UsersManage, false},
		{access.Role("root"), access.DevicesRead, false},
		{access.Admin, access.Public, false},
		{access.Admin, access.Agent, false},
	}
	for _, tc := range cases {
		if got := tc.role.Can(tc.perm); got != tc.want {
			t.Errorf("%s.Can(%s) = %v, want %v", tc.role, tc.perm, got, tc.want)
		}
	}
}
