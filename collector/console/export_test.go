package console

import "github.com/rosterhq/roster/collector/access"

// RoutePerm is one console route (method and pattern, as registered) with
// the permission it declared.
type RoutePerm struct {
	Pattern string
	Perm    access.Permission
}

// SignedIn is the permission of pages every signed-in principal may use.
const SignedIn = signedIn

// RouteTable lists every route the console registers, for the matrix test.
func RouteTable() []RoutePerm {
	var out []RoutePerm
	for _, rt := range (&Console{}).routes() {
		out = append(out, RoutePerm{Pattern: rt.pattern, Perm: rt.perm})
	}
	return out
}
