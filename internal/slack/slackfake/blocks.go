package slackfake

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Slack's documented Block Kit limits. A message over any of them is
// refused with invalid_blocks, as the real API does.
const (
	MaxMessageBlocks = 50
	MaxModalBlocks   = 100
	MaxSectionText   = 3000
	MaxSectionFields = 10
	MaxFieldText     = 2000
	MaxHeaderText    = 150
	MaxContextElems  = 10
	MaxActionsElems  = 25
	MaxButtonText    = 75
	MaxButtonValue   = 2000
	MaxActionID      = 255
	MaxBlockID       = 255
	// MaxMessageText is the top-level text limit (msg_too_long above it).
	MaxMessageText = 40000
	MaxModalTitle  = 24
)

// validateBlocks checks raw (a JSON array of blocks) against Slack's
// limits and returns the reason for the first violation, or "".
func validateBlocks(raw string, maxBlocks int) string {
	if raw == "" {
		return ""
	}
	var blocks []map[string]any
	if err := json.Unmarshal([]byte(raw), &blocks); err != nil {
		return "blocks is not a JSON array of objects: " + err.Error()
	}
	if len(blocks) > maxBlocks {
		return fmt.Sprintf("more than %d blocks (%d)", maxBlocks, len(blocks))
	}
	ids := map[string]bool{}
	for i, b := range blocks {
		if id, _ := b["block_id"].(string); id != "" {
			if len(id) > MaxBlockID {
				return fmt.Sprintf("block %d: block_id longer than %d", i, MaxBlockID)
			}
			if ids[id] {
				return fmt.Sprintf("block %d: duplicate block_id %q", i, id)
			}
			ids[id] = true
		}
		if why := validateBlock(b); why != "" {
			return fmt.Sprintf("block %d (%v): %s", i, b["type"], why)
		}
	}
	return ""
}

func validateBlock(b map[string]any) string {
	switch b["type"] {
	case "section":
		text, hasText := b["text"].(map[string]any)
		fields, _ := b["fields"].([]any)
		if !hasText && len(fields) == 0 {
			return "a section needs text or fields"
		}
		if hasText {
			if why := validateText(text, MaxSectionText, true); why != "" {
				return why
			}
		}
		if len(fields) > MaxSectionFields {
			return fmt.Sprintf("more than %d fields", MaxSectionFields)
		}
		for _, f := range fields {
			fm, _ := f.(map[string]any)
			if why := validateText(fm, MaxFieldText, true); why != "" {
				return "field: " + why
			}
		}
		if acc, ok := b["accessory"].(map[string]any); ok {
			return validateElement(acc)
		}
	case "header":
		text, _ := b["text"].(map[string]any)
		if text == nil || text["type"] != "plain_text" {
			return "a header needs plain_text text"
		}
		return validateText(text, MaxHeaderText, false)
	case "context":
		elems, _ := b["elements"].([]any)
		if len(elems) == 0 || len(elems) > MaxContextElems {
			return fmt.Sprintf("a context needs 1 to %d elements, has %d", MaxContextElems, len(elems))
		}
		for _, e := range elems {
			em, _ := e.(map[string]any)
			if em["type"] == "image" {
				continue
			}
			if why := validateText(em, MaxSectionText, true); why != "" {
				return why
			}
		}
	case "actions":
		elems, _ := b["elements"].([]any)
		if len(elems) == 0 || len(elems) > MaxActionsElems {
			return fmt.Sprintf("actions need 1 to %d elements, has %d", MaxActionsElems, len(elems))
		}
		for _, e := range elems {
			em, _ := e.(map[string]any)
			if why := validateElement(em); why != "" {
				return why
			}
		}
	case "divider":
	case "image":
		if b["image_url"] == nil && b["slack_file"] == nil {
			return "an image needs image_url or slack_file"
		}
		if s, _ := b["alt_text"].(string); s == "" {
			return "an image needs alt_text"
		}
	case "rich_text", "markdown", "input", "file", "video":
	default:
		return "unknown block type"
	}
	return ""
}

func validateText(t map[string]any, max int, mrkdwnOK bool) string {
	if t == nil {
		return "missing text object"
	}
	switch t["type"] {
	case "plain_text":
	case "mrkdwn":
		if !mrkdwnOK {
			return "mrkdwn is not allowed here"
		}
	default:
		return fmt.Sprintf("text type must be plain_text or mrkdwn, not %v", t["type"])
	}
	s, _ := t["text"].(string)
	if s == "" {
		return "empty text"
	}
	if n := utf8.RuneCountInString(s); n > max {
		return fmt.Sprintf("text longer than %d characters (%d)", max, n)
	}
	return ""
}

func validateElement(e map[string]any) string {
	if id, _ := e["action_id"].(string); len(id) > MaxActionID {
		return "action_id too long"
	}
	switch e["type"] {
	case "button":
		text, _ := e["text"].(map[string]any)
		if why := validateText(text, MaxButtonText, false); why != "" {
			return "button text: " + why
		}
		if v, _ := e["value"].(string); len(v) > MaxButtonValue {
			return "button value too long"
		}
		if s, ok := e["style"].(string); ok && s != "primary" && s != "danger" {
			return "button style must be primary or danger"
		}
	case "overflow", "static_select", "users_select", "conversations_select", "channels_select", "image", "datepicker":
	default:
		return fmt.Sprintf("unknown element type %v", e["type"])
	}
	return ""
}
