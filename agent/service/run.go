package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	kservice "github.com/kardianos/service"
)

// stopWait bounds how long the Windows service waits for the loop after
// the SCM asked it to stop; the SCM itself allows about 20 s.
const stopWait = 15 * time.Second

// RunLoop runs the agent's foreground loop as the platform expects. systemd
// and launchd start `roster-agent run` as a plain process and stop it with
// SIGTERM, which the loop's ctx already carries, so loop simply runs. The
// Windows SCM instead expects the process to answer its control requests
// within seconds, so there the loop runs under kardianos/service, which
// cancels it on the SCM's stop or shutdown.
func RunLoop(ctx context.Context, goos string, loop func(context.Context) error) error {
	if goos != "windows" || kservice.Interactive() {
		return loop(ctx)
	}
	p := &program{parent: ctx, loop: loop, done: make(chan struct{})}
	s, err := kservice.New(p, &kservice.Config{Name: Definition{GOOS: goos}.Name()})
	if err != nil {
		return fmt.Errorf("run under the service manager: %w", err)
	}
	if err := s.Run(); err != nil {
		return fmt.Errorf("run under the service manager: %w", err)
	}
	return p.err
}

// program adapts the loop to kardianos' Start/Stop interface.
type program struct {
	parent context.Context
	loop   func(context.Context) error
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

func (p *program) Start(kservice.Service) error {
	ctx, cancel := context.WithCancel(p.parent)
	p.cancel = cancel
	go func() {
		defer close(p.done)
		p.err = p.loop(ctx)
		if p.err != nil && ctx.Err() == nil {
			// The loop gave up on its own. kardianos offers no way to end
			// Run from inside, and the SCM's restart-on-failure recovery
			// needs a failed exit, so the process ends here; the loop has
			// returned, so its state is consistent.
			fmt.Fprintf(os.Stderr, "roster-agent: %v\n", p.err)
			os.Exit(1)
		}
	}()
	return nil
}

func (p *program) Stop(kservice.Service) error {
	p.cancel()
	select {
	case <-p.done:
		if errors.Is(p.err, context.Canceled) {
			p.err = nil
		}
		return nil
	case <-time.After(stopWait):
		return fmt.Errorf("stop: the loop did not end within %v", stopWait)
	}
}
