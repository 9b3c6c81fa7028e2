package agent

import (
	"fmt"
	"regexp"
	"strings"
)

// ReAct markers, matched at the start of a line, case-insensitively, with
// optional markdown emphasis that small models like to add ("**Action:**").
var (
	reFinal       = regexp.MustCompile(`(?im)^[ \t>*_#]*final[ \t]+answer[ \t*_]*:[ \t*_]*`)
	reAction      = regexp.MustCompile(`(?im)^[ \t>*_#]*action[ \t*_]*:[ \t*_]*(.*)$`)
	reActionInput = regexp.MustCompile(`(?im)^[ \t>*_#]*action[ \t]+input[ \t*_]*:[ \t*_]*`)
	reNextMarker  = regexp.MustCompile(`(?im)^[ \t>*_#]*(thought|observation|action|final[ \t]+answer)[ \t*_]*:`)
	reObservation = regexp.MustCompile(`(?im)^[ \t>*_#]*observation[ \t*_]*:`)
	reThought     = regexp.MustCompile(`(?im)^[ \t>*_#]*thought[ \t*_]*:[ \t*_]*`)
)

// reactStep is a parsed ReAct reply.
type reactStep struct {
	Final    string
	HasFinal bool
	Action   string
	Input    string
}

// parseReActText reads one ReAct reply. A reply with neither an action nor a
// final answer is taken as the answer itself, because many small models
// simply answer; a reply that names an action takes precedence over a final
// answer written after it, since the model has not seen that action's
// result yet.
func parseReActText(text string) reactStep {
	// A model that invents its own observation has stopped reasoning from
	// evidence; everything from there on is discarded.
	if loc := reObservation.FindStringIndex(text); loc != nil {
		text = text[:loc[0]]
	}
	finalLoc := reFinal.FindStringIndex(text)
	actLoc := reAction.FindStringSubmatchIndex(text)
	if actLoc != nil && (finalLoc == nil || actLoc[0] < finalLoc[0]) {
		name := strings.TrimSpace(text[actLoc[2]:actLoc[3]])
		name = strings.Trim(name, "`\"'*_ ")
		name = strings.TrimSuffix(name, "()")
		if !strings.EqualFold(name, "none") && name != "" {
			step := reactStep{Action: name, Input: "{}"}
			rest := text[actLoc[1]:]
			if in := reActionInput.FindStringIndex(rest); in != nil {
				input := rest[in[1]:]
				if next := reNextMarker.FindStringIndex(input); next != nil {
					input = input[:next[0]]
				}
				step.Input = strings.TrimSpace(input)
			}
			return step
		}
	}
	if finalLoc != nil {
		return reactStep{Final: strings.TrimSpace(text[finalLoc[1]:]), HasFinal: true}
	}
	return reactStep{Final: strings.TrimSpace(text), HasFinal: true}
}

// parseReAct turns a ReAct reply into the assistant message to keep and the
// tool call to make, if any.
func (r *run) parseReAct(reply Message, step int) (Message, []ToolCall) {
	text := reply.Content
	if loc := reObservation.FindStringIndex(text); loc != nil {
		text = strings.TrimSpace(text[:loc[0]])
	}
	p := parseReActText(text)
	msg := Message{Role: RoleAssistant, Content: text}
	if p.HasFinal {
		msg.Content = p.Final
		if p.Final == "" && strings.TrimSpace(text) != "" {
			// "Final Answer:" with nothing after it: remind and retry via
			// the empty-answer path.
			msg.Content = ""
		}
		return msg, nil
	}
	return msg, []ToolCall{{ID: fmt.Sprintf("react_%d", step), Name: p.Action, Arguments: p.Input}}
}

// reactThought returns what a ReAct reply says before its action, without
// the "Thought:" marker: the best answer a model that ignored the step limit
// gave.
func reactThought(text string) string {
	if loc := reAction.FindStringIndex(text); loc != nil {
		text = text[:loc[0]]
	}
	text = strings.TrimSpace(text)
	if loc := reThought.FindStringIndex(text); loc != nil && loc[0] == 0 {
		text = text[loc[1]:]
	}
	return strings.TrimSpace(text)
}
