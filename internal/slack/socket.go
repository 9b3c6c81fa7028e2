package slack

import (
	"context"
	"errors"
	"fmt"

	slackapi "github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
)

// RunSocket serves Socket Mode until ctx ends, over Connections parallel
// connections (Slack spreads envelopes across an app's connections, up to
// ten), each reconnecting as needed. Every envelope is acknowledged before
// anything else is done with it.
func (b *Bot) RunSocket(ctx context.Context) error {
	n := min(max(b.opts.Config.Connections, 1), 10)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, n)
	for range n {
		go func() {
			err := b.runConnection(ctx)
			if err != nil {
				cancel()
			}
			errc <- err
		}()
	}
	var first error
	for range n {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (b *Bot) runConnection(ctx context.Context) error {
	client := socketmode.New(b.api)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case evt, ok := <-client.Events:
				if !ok {
					return
				}
				b.onSocketEvent(ctx, client, evt)
			}
		}
	}()
	err := client.RunContext(ctx)
	cancel()
	<-done
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return fmt.Errorf("slack socket mode: %w; check slack.app_token (xapp-…, connections:write) and that Socket Mode is enabled for the app", err)
	}
	return nil
}

func (b *Bot) onSocketEvent(ctx context.Context, client *socketmode.Client, evt socketmode.Event) {
	switch evt.Type {
	case socketmode.EventTypeEventsAPI:
		b.ack(ctx, client, evt, nil)
		if ev, ok := evt.Data.(slackevents.EventsAPIEvent); ok {
			b.dispatchEvent(ev)
		}
	case socketmode.EventTypeSlashCommand:
		cmd, ok := evt.Data.(slackapi.SlashCommand)
		if !ok {
			b.ack(ctx, client, evt, nil)
			return
		}
		b.ack(ctx, client, evt, b.HandleCommand(cmd))
	case socketmode.EventTypeInteractive:
		b.ack(ctx, client, evt, nil)
		if cb, ok := evt.Data.(slackapi.InteractionCallback); ok {
			b.HandleInteraction(cb)
		}
	case socketmode.EventTypeConnected:
		b.logger.Info("connected to Slack (socket mode)")
	case socketmode.EventTypeConnectionError:
		b.logger.Warn("Slack connection failed; retrying", "data", fmt.Sprint(evt.Data))
	case socketmode.EventTypeInvalidAuth:
		b.logger.Error("Slack refused the app token; check slack.app_token")
	case socketmode.EventTypeIncomingError, socketmode.EventTypeErrorBadMessage:
		b.logger.Warn("unreadable Socket Mode message", "data", fmt.Sprint(evt.Data))
		b.ack(ctx, client, evt, nil)
	}
}

func (b *Bot) ack(ctx context.Context, client *socketmode.Client, evt socketmode.Event, payload any) {
	if evt.Request == nil || evt.Request.EnvelopeID == "" {
		return
	}
	if err := client.AckCtx(ctx, evt.Request.EnvelopeID, payload); err != nil && ctx.Err() == nil {
		b.logger.Warn("acknowledge a Socket Mode envelope", "err", err)
	}
}
