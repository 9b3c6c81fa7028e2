package agent

// DefaultPrices are list prices of well-known hosted models, in US dollars
// per million tokens (standard tier, text, no caching or batch discounts),
// as published by their vendors in 2025. They make the cost line and the
// money budgets work without configuration; llm.prices overrides or adds
// entries (a price that changed, a negotiated rate, a local model at 0).
// A name matches its exact entry or the longest entry it starts with, so
// dated snapshots ("gpt-4o-2024-08-06") take their family's price.
func DefaultPrices() Prices {
	return Prices{
		// OpenAI
		"gpt-5":        {InputPerMTok: 1.25, OutputPerMTok: 10},
		"gpt-5-mini":   {InputPerMTok: 0.25, OutputPerMTok: 2},
		"gpt-5-nano":   {InputPerMTok: 0.05, OutputPerMTok: 0.40},
		"gpt-4.1":      {InputPerMTok: 2, OutputPerMTok: 8},
		"gpt-4.1-mini": {InputPerMTok: 0.40, OutputPerMTok: 1.60},
		"gpt-4.1-nano": {InputPerMTok: 0.10, OutputPerMTok: 0.40},
		"gpt-4o":       {InputPerMTok: 2.50, OutputPerMTok: 10},
		"gpt-4o-mini":  {InputPerMTok: 0.15, OutputPerMTok: 0.60},
		"o3":           {InputPerMTok: 2, OutputPerMTok: 8},
		"o3-mini":      {InputPerMTok: 1.10, OutputPerMTok: 4.40},
		"o4-mini":      {InputPerMTok: 1.10, OutputPerMTok: 4.40},
		// Anthropic (also on Bedrock, as anthropic.claude-…)
		"claude-opus-4":     {InputPerMTok: 15, OutputPerMTok: 75},
		"claude-opus-4-5":   {InputPerMTok: 5, OutputPerMTok: 25},
		"claude-sonnet-4":   {InputPerMTok: 3, OutputPerMTok: 15},
		"claude-haiku-4-5":  {InputPerMTok: 1, OutputPerMTok: 5},
		"claude-3-7-sonnet": {InputPerMTok: 3, OutputPerMTok: 15},
		"claude-3-5-sonnet": {InputPerMTok: 3, OutputPerMTok: 15},
		"claude-3-5-haiku":  {InputPerMTok: 0.80, OutputPerMTok: 4},
		// Google
		"gemini-2.5-pro":        {InputPerMTok: 1.25, OutputPerMTok: 10},
		"gemini-2.5-flash":      {InputPerMTok: 0.30, OutputPerMTok: 2.50},
		"gemini-2.5-flash-lite": {InputPerMTok: 0.10, OutputPerMTok: 0.40},
		"gemini-2.0-flash":      {InputPerMTok: 0.10, OutputPerMTok: 0.40},
	}
}

// WithDefaults returns the default prices overlaid with p's entries.
func (p Prices) WithDefaults() Prices {
	out := DefaultPrices()
	for name, price := range p {
		out[name] = price
	}
	return out
}
