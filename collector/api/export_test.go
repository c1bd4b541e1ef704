package api

import (
	"github.com/rosterhq/roster/collector/access"
	"github.com/rosterhq/roster/collector/metrics"
)

// RouteInfo is one method of one route with the permission it declared.
type RouteInfo struct {
	Path, Method string
	Perm         access.Permission
}

// RouteTable lists every route New(opt) serves, for the permission tests.
func RouteTable(opt Options) []RouteInfo {
	s := &server{testClock: opt.TestClock, metricsPerm: access.MetricsRead, metrics: metrics.New()}
	if opt.MetricsPublic {
		s.metricsPerm = access.Public
	}
	var out []RouteInfo
	for _, rt := range s.routes() {
		for m, e := range rt.methods {
			out = append(out, RouteInfo{Path: rt.path, Method: m, Perm: e.perm})
		}
	}
	return out
}
