package incident

import "context"

type triageKey struct{}

// WithTriage marks ctx as an incident's automatic first assessment, which
// the app may give to its fast model (llm.fast) rather than the main one:
// a storm of alerts opens many incidents, and their first look needs
// speed and a low price more than depth.
func WithTriage(ctx context.Context) context.Context {
	return context.WithValue(ctx, triageKey{}, true)
}

// IsTriage reports whether ctx is an incident's automatic first
// assessment (WithTriage).
func IsTriage(ctx context.Context) bool {
	v, _ := ctx.Value(triageKey{}).(bool)
	return v
}
