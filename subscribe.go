package magiclink

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
)

// Subscribe registers fn to be called with every event committed from
// now on, and returns a function that unregisters it.
//
// fn runs on a delivery goroutine after the change has committed, never
// on the request that caused it, and at least once per event: the events
// are queued for the subscribers in the same store write as their
// changes, so those committed before a crash reach the subscribers of the
// next start (after its first Subscribe), and with several instances
// sharing a store any instance's subscribers may receive an event. fn
// should be quick and idempotent (Event.ID tells repeats apart). A panic
// in fn is recovered and logged, and the event is not offered again.
func (a *Auth) Subscribe(fn func(ctx context.Context, e *Event)) (unsubscribe func()) {
	d := a.deliver
	d.smu.Lock()
	id := d.next
	d.next++
	d.hooks[id] = fn
	d.smu.Unlock()
	d.subs.kick()
	return func() {
		d.smu.Lock()
		delete(d.hooks, id)
		d.smu.Unlock()
	}
}

// subscribed reports whether any subscriber is registered.
func (d *deliverer) subscribed() bool {
	d.smu.RLock()
	defer d.smu.RUnlock()
	return len(d.hooks) > 0
}

// call hands ev to every subscriber. With none registered (they left
// since the event was queued) the event waits for the next.
func (d *deliverer) call(ctx context.Context, ev *Event) (outcome, string) {
	d.smu.RLock()
	hooks := make([]func(context.Context, *Event), 0, len(d.hooks))
	for _, fn := range d.hooks {
		hooks = append(hooks, fn)
	}
	d.smu.RUnlock()
	if len(hooks) == 0 {
		return retry, "no subscriber"
	}
	for _, fn := range hooks {
		d.safeCall(ctx, fn, ev)
	}
	return delivered, ""
}

// safeCall calls fn, recovering and logging a panic.
func (d *deliverer) safeCall(ctx context.Context, fn func(context.Context, *Event), ev *Event) {
	defer func() {
		if p := recover(); p != nil {
			d.a.log.Error("magiclink: an event subscriber panicked", slog.String("event_id", ev.ID),
				slog.String("type", string(ev.Type)), slog.String("panic", fmt.Sprint(p)), slog.String("stack", string(debug.Stack())))
		}
	}()
	e := *ev
	fn(ctx, &e)
}
