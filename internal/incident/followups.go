package incident

import (
	"context"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/store"
)

// Follow-ups are the work an incident is owed after a change: the
// automatic investigation when it opens, the postmortem when it resolves.
// Whoever makes the change starts the follow-up at once, under a lease (a
// store claim); the follow-up is done when the timeline has its event. If
// the process doing one dies, the lease runs out and RunFollowUps — the
// leader's, with several replicas — takes it up again, so a restart loses
// neither.
const (
	followInvestigation = "investigation"
	followPostmortem    = "postmortem"
)

// Follow-up timings (Options override them).
const (
	defaultFollowUpLease = 15 * time.Minute
	defaultFollowUpEvery = time.Minute
	// followUpHorizon: an investigation is only worth starting late for a
	// recent incident; a postmortem for one resolved within a day.
	investigationHorizon = time.Hour
	postmortemHorizon    = 24 * time.Hour
)

// startFollowUp runs kind's follow-up for in unless another process holds
// its lease, and records it done on the timeline if run did not.
func (s *Service) startFollowUp(ctx context.Context, kind string, in Incident, run func(ctx context.Context, in Incident)) {
	select {
	case s.slots <- struct{}{}:
	default:
		// Every slot is busy (a storm): the lease is not taken, so
		// RunFollowUps takes this one up when a slot frees.
		s.opts.Logger.Info("incident follow-up deferred: all slots busy; it is taken up when one frees",
			"incident", in.ID, "followup", kind, "slots", cap(s.slots))
		return
	}
	ok, err := s.opts.Store.Claim(ctx, "followup:"+kind+":"+in.ID, s.opts.FollowUpLease)
	if err != nil || !ok {
		<-s.slots
		// Another follow-up may have been deferred while this one held
		// the slot: wake the sweep, or it waits for its next tick.
		s.wake()
		if err != nil {
			s.opts.Logger.Error("lease an incident follow-up; it will be retried", "incident", in.ID, "followup", kind, "err", err)
		}
		return // under way elsewhere, or just finished
	}
	s.running.Add(1)
	go func() {
		defer s.running.Done()
		defer func() {
			<-s.slots
			// A freed slot may be what a deferred follow-up waits for.
			s.wake()
		}()
		ctx := context.WithoutCancel(ctx)
		run(ctx, in)
		now, err := s.Get(ctx, in.ID)
		if err != nil {
			s.opts.Logger.Error("read an incident after its follow-up", "incident", in.ID, "followup", kind, "err", err)
			return
		}
		if !followUpDone(now, kind) {
			if _, err := s.Record(ctx, in.ID, kind, kind+" done automatically", "watchkeeper"); err != nil {
				s.opts.Logger.Error("record an incident follow-up", "incident", in.ID, "followup", kind, "err", err)
			}
		}
	}()
}

// Wait waits up to d for the follow-ups this process started to finish,
// and reports whether they did. A follow-up still running when the
// process stops is taken up by RunFollowUps (its lease runs out).
func (s *Service) Wait(d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		s.running.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// wake asks RunFollowUps to look for deferred follow-ups now.
func (s *Service) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// followUpDone reports whether the timeline shows kind's follow-up: an
// investigation at any time, a postmortem since the incident resolved.
func followUpDone(in Incident, kind string) bool {
	for _, e := range in.Data.Timeline {
		if e.Kind == kind && (kind != followPostmortem || !e.At.Before(in.ResolvedAt)) {
			return true
		}
	}
	return false
}

// RunFollowUps takes up, every FollowUpEvery until ctx ends, follow-ups
// whose process died: recent open incidents never investigated, recently
// resolved ones without a postmortem.
func (s *Service) RunFollowUps(ctx context.Context) {
	t := time.NewTicker(s.opts.FollowUpEvery)
	defer t.Stop()
	for {
		s.resumeFollowUps(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
		}
	}
}

func (s *Service) resumeFollowUps(ctx context.Context) {
	now := s.opts.Now()
	var investigate func(ctx context.Context, in Incident)
	if s.opts.Investigator != nil {
		investigate = s.investigate
	}
	for _, f := range []struct {
		kind, status string
		horizon      time.Duration
		run          func(ctx context.Context, in Incident)
		since        func(in Incident) time.Time
	}{
		{followInvestigation, store.IncidentOpen, investigationHorizon, investigate, func(in Incident) time.Time { return in.StartedAt }},
		{followPostmortem, store.IncidentResolved, postmortemHorizon, s.opts.OnResolved, func(in Incident) time.Time { return in.ResolvedAt }},
	} {
		if f.run == nil {
			continue
		}
		list, err := s.opts.Store.ListIncidents(ctx, f.status, 200)
		if err != nil {
			if ctx.Err() == nil {
				s.opts.Logger.Error("list incidents for their follow-ups", "status", f.status, "err", err)
			}
			continue
		}
		for _, raw := range list {
			in, err := decode(raw)
			if err != nil || now.Sub(f.since(in)) > f.horizon || followUpDone(in, f.kind) {
				continue
			}
			s.startFollowUp(ctx, f.kind, in, f.run)
		}
	}
}
