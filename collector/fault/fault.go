// Package fault is the error a person is shown: what kind of failure it
// is, a stable public code and a sentence written where the error is made,
// so the API answers from fields rather than by cutting text out of a
// wrapped error. The registry declares its sentinels as *Error values
// (registry.ErrNotFound, ...) and refines them with Errorf; errors.Is on a
// sentinel and errors.As to *Error both work through any wrapping. The API
// maps Kind to an HTTP status in one place.
package fault

import (
	"errors"
	"fmt"
	"time"
)

// Kind is how a caller must answer a failure; the zero Kind is an
// internal error whose text is not for the person asking.
type Kind int

// Kinds.
const (
	Internal Kind = iota
	// Invalid: the request is wrong and asking again unchanged fails again.
	Invalid
	// NotFound: what the request names does not exist.
	NotFound
	// Conflict: the request clashes with the current state (a lifecycle
	// step out of turn, a taken name, a reference naming several things).
	Conflict
	// Forbidden: the caller is known but may not do this (a revoked
	// certificate, separation of duties).
	Forbidden
	// Unauthenticated: the credential presented is not accepted.
	Unauthenticated
	// Throttled: the caller must wait before asking again (an account
	// locked after failed sign-ins); RetryAfter says how long.
	Throttled
)

// Error is a failure with its public code and message.
type Error struct {
	Kind Kind
	// Code is the stable machine-readable code ("not_found",
	// "separation_of_duties"), the JSON error code of the API.
	Code string
	// Message is the sentence shown to a person, with no "what was being
	// done" prefixes; those belong to the wrapping errors in the log.
	Message string
	// Err is the more general error this one is a case of (the sentinel
	// Errorf was called on), nil for a sentinel itself.
	Err error
	// RetryAfter is how long to wait before asking again, for a Throttled
	// error that knows (0: it does not say).
	RetryAfter time.Duration

	cause error // an error Errorf's format wrapped with %w
}

// New makes a sentinel: a kind, code and general message that
// particular errors refine with Errorf.
func New(kind Kind, code, message string) *Error {
	return &Error{Kind: kind, Code: code, Message: message}
}

// Errorf makes a particular case of e: same kind and code, its own
// message, and errors.Is(err, e) true. A %w in format keeps that error
// reachable by errors.Is and errors.As too.
func (e *Error) Errorf(format string, a ...any) *Error {
	err := fmt.Errorf(format, a...)
	return &Error{Kind: e.Kind, Code: e.Code, Message: err.Error(), Err: e, cause: errors.Unwrap(err)}
}

// Error is the public message.
func (e *Error) Error() string { return e.Message }

// Unwrap gives the sentinel and any wrapped cause.
func (e *Error) Unwrap() []error {
	var out []error
	for _, err := range []error{e.Err, e.cause} {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// HTTPStatus is the HTTP status of each public kind of failure, for the
// API and the web console alike; Internal (and any unknown kind) is 500,
// with nothing of the error shown.
func (k Kind) HTTPStatus() int {
	switch k {
	case Invalid:
		return 400
	case NotFound:
		return 404
	case Conflict:
		return 409
	case Forbidden:
		return 403
	case Unauthenticated:
		return 401
	case Throttled:
		return 429
	}
	return 500
}
