// Package webhooktest provides an in-memory webhook.Store for tests. It is
// also the reference for what the registry's SQLite store must do: Enqueue
// creates one delivery per enabled endpoint whose filters match the event,
// Due hands out the due ones oldest first, and the outcome methods move a
// delivery to delivered, back to pending with a later time, or to given up.
package webhooktest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/rosterhq/roster/collector/webhook"
)

// Delivery states.
const (
	Pending   = "pending"
	Delivered = "delivered"
	GivenUp   = "given_up"
)

// Delivery is a delivery with its state, as Store.Deliveries returns it.
type Delivery struct {
	webhook.Delivery
	State       string
	DeliveredAt time.Time
	// Outcomes lists every outcome recorded, in order, for assertions.
	Outcomes []string
}

// Store is an in-memory webhook.Store. The zero value is not usable; call
// New. It is safe for concurrent use.
type Store struct {
	mu         sync.Mutex
	endpoints  map[string]webhook.Endpoint
	events     map[string]webhook.Event
	deliveries map[string]*Delivery
}

// New returns an empty Store.
func New() *Store {
	return &Store{
		endpoints:  map[string]webhook.Endpoint{},
		events:     map[string]webhook.Event{},
		deliveries: map[string]*Delivery{},
	}
}

// PutEndpoint adds or replaces an endpoint.
func (s *Store) PutEndpoint(ep webhook.Endpoint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endpoints[ep.ID] = ep
}

// Enqueue stores ev (with a new UUID when ev.ID is empty) and a delivery,
// due at now, for every enabled endpoint whose filters match its kind. It
// returns the delivery ids.
func (s *Store) Enqueue(ev webhook.Event, now time.Time) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ev.ID == "" {
		ev.ID = uuid.NewString()
	}
	s.events[ev.ID] = ev
	var ids []string
	for _, ep := range s.endpoints {
		if !ep.Enabled || !webhook.Match(ep.Events, ev.Kind) {
			continue
		}
		d := &Delivery{
			Delivery: webhook.Delivery{ID: uuid.NewString(), EndpointID: ep.ID, EventID: ev.ID, NextAttemptAt: now},
			State:    Pending,
		}
		s.deliveries[d.ID] = d
		ids = append(ids, d.ID)
	}
	slices.Sort(ids)
	return ids
}

// Due implements webhook.Store.
func (s *Store) Due(ctx context.Context, now time.Time, limit int) ([]webhook.Pending, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var due []webhook.Pending
	for _, d := range s.deliveries {
		ep := s.endpoints[d.EndpointID]
		if d.State != Pending || !ep.Enabled || d.NextAttemptAt.After(now) {
			continue
		}
		due = append(due, webhook.Pending{Delivery: d.Delivery, Endpoint: ep, Event: s.events[d.EventID]})
	}
	slices.SortFunc(due, func(a, b webhook.Pending) int {
		return cmp.Or(a.Delivery.NextAttemptAt.Compare(b.Delivery.NextAttemptAt), cmp.Compare(a.Delivery.ID, b.Delivery.ID))
	})
	if len(due) > limit {
		due = due[:limit]
	}
	return due, nil
}

func (s *Store) pending(id string) (*Delivery, error) {
	d, ok := s.deliveries[id]
	if !ok {
		return nil, fmt.Errorf("delivery %s: not found", id)
	}
	if d.State != Pending {
		return nil, fmt.Errorf("delivery %s: already %s", id, d.State)
	}
	return d, nil
}

// Delivered implements webhook.Store.
func (s *Store) Delivered(ctx context.Context, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.pending(id)
	if err != nil {
		return err
	}
	d.Attempt++
	d.State, d.DeliveredAt, d.LastError = Delivered, at, ""
	d.Outcomes = append(d.Outcomes, Delivered)
	return nil
}

// Failed implements webhook.Store.
func (s *Store) Failed(ctx context.Context, id string, attempt int, next time.Time, errMsg string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.pending(id)
	if err != nil {
		return err
	}
	d.Attempt, d.NextAttemptAt, d.LastError = attempt, next, errMsg
	d.Outcomes = append(d.Outcomes, "failed: "+errMsg)
	return nil
}

// GiveUp implements webhook.Store.
func (s *Store) GiveUp(ctx context.Context, id string, errMsg string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.pending(id)
	if err != nil {
		return err
	}
	d.Attempt++
	d.State, d.LastError = GivenUp, errMsg
	d.Outcomes = append(d.Outcomes, GivenUp+": "+errMsg)
	return nil
}

// Delivery returns a copy of one delivery.
func (s *Store) Delivery(id string) (Delivery, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.deliveries[id]
	if !ok {
		return Delivery{}, false
	}
	c := *d
	c.Outcomes = slices.Clone(d.Outcomes)
	return c, true
}
