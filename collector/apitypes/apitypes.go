// Package apitypes holds the request and response bodies of the
// collector's /api/v1 routes for people and automation: what the API
// encodes and decodes, what rosterctl reads, and what the OpenAPI document
// at /api/v1/openapi.json is reflected from, so the three cannot drift.
// It imports only the standard library and shared/wire (the agent's
// protocol types), so a pure-Go client links it without the server.
//
// The JSON is the API's contract: a field is added, never renamed or
// removed; clients ignore fields they do not know. Request bodies are
// decoded strictly, so a client sends only the fields declared here; a
// field left out is read as its zero value, so optional ones are
// omitempty.
package apitypes

// List is every list response: its items and, except on the last page,
// the cursor of the next one.
type List[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// Status is GET /healthz and /readyz.
type Status struct {
	Status string `json:"status"`
}
