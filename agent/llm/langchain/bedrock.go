package langchain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/watchkeeper/watchkeeper/agent"
	"github.com/watchkeeper/watchkeeper/tools"
)

// BedrockModel speaks Bedrock's Converse API (POST /model/{modelId}/converse)
// through the AWS SDK: one request shape for every model family, with native
// tool use wherever the model has it (Claude, Llama 3.1+, Mistral Large,
// Nova, Cohere Command R, Jamba). A model without tool use answers a request
// with tools with a ValidationException, which Generate reports as
// agent.ErrToolsUnsupported; the agent then speaks ReAct to it.
//
// Replies are not streamed (Converse, not ConverseStream). A BedrockModel is
// safe for concurrent use.
type BedrockModel struct {
	client *bedrockruntime.Client
	model  string
	// explain rewrites the SDK's errors into ones that say what to change.
	explain func(error) error
}

func newBedrock(ctx context.Context, cfg Config, hc *http.Client, retries int) (*BedrockModel, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if cfg.Region != "" {
		opts = append(opts, awsconfig.WithRegion(cfg.Region))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("bedrock: load the AWS configuration (AWS_PROFILE, ~/.aws/config): %w", err)
	}
	if awsCfg.Region == "" {
		return nil, errors.New("bedrock: no AWS region; set llm.region (e.g. us-east-1) or AWS_REGION")
	}
	// The SDK's own retryer is off: retry.Transport retries under it, by
	// the policy every provider shares (llm.max_retries, Retry-After), so
	// the two do not multiply. A retry resends the signed request as it
	// was, which is valid for the signature's five minutes.
	bhc := *hc
	bhc.Transport = replayable{next: hc.Transport}
	client := bedrockruntime.NewFromConfig(awsCfg, func(o *bedrockruntime.Options) {
		o.HTTPClient = &bhc
		o.Retryer = aws.NopRetryer{}
		if cfg.BaseURL != "" {
			o.BaseEndpoint = aws.String(strings.TrimRight(cfg.BaseURL, "/"))
		}
	})
	where := cfg.BaseURL
	if where == "" {
		where = "https://bedrock-runtime." + awsCfg.Region + ".amazonaws.com"
	}
	return &BedrockModel{client: client, model: cfg.Model,
		explain: func(err error) error { return explainBedrock(err, cfg.Model, where, awsCfg.Region, retries) }}, nil
}

// NativeToolCalling reports true: whether a model takes tools is Bedrock's
// to say, and a refusal turns the agent to ReAct for the model (see
// BedrockModel).
func (b *BedrockModel) NativeToolCalling() bool { return true }

// Generate sends req to Converse and returns the reply. It fails with
// agent.ErrContextLength when the request does not fit the model and with
// agent.ErrToolsUnsupported when the model takes no tools.
func (b *BedrockModel) Generate(ctx context.Context, req agent.Request) (agent.Response, error) {
	in, err := b.input(req)
	if err != nil {
		return agent.Response{}, fmt.Errorf("%s: %w", b.model, err)
	}
	out, err := b.client.Converse(ctx, in)
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
			return agent.Response{}, cause
		}
		return agent.Response{}, fmt.Errorf("%s: %w", b.model, b.explain(err))
	}
	return b.response(out)
}

// input lays the conversation out as Converse wants it: system messages
// apart, turns alternating and starting with the user (consecutive turns of
// one role merged, tool results in a user turn right after the calls), and
// no empty content, which Converse refuses. Converse also refuses toolUse
// and toolResult blocks without a toolConfig, so a request without tools
// (the last step of a run, ReAct) carries earlier calls and results as text.
func (b *BedrockModel) input(req agent.Request) (*bedrockruntime.ConverseInput, error) {
	native := len(req.Tools) > 0
	in := &bedrockruntime.ConverseInput{ModelId: aws.String(b.model)}
	add := func(role types.ConversationRole, blocks ...types.ContentBlock) {
		if len(blocks) == 0 {
			return
		}
		if n := len(in.Messages); n > 0 && in.Messages[n-1].Role == role {
			in.Messages[n-1].Content = append(in.Messages[n-1].Content, blocks...)
			return
		}
		if len(in.Messages) == 0 && role != types.ConversationRoleUser {
			in.Messages = append(in.Messages, types.Message{Role: types.ConversationRoleUser,
				Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "(The conversation so far follows.)"}}})
		}
		in.Messages = append(in.Messages, types.Message{Role: role, Content: blocks})
	}
	text := func(s string) []types.ContentBlock {
		if strings.TrimSpace(s) == "" {
			return nil
		}
		return []types.ContentBlock{&types.ContentBlockMemberText{Value: s}}
	}
	for _, msg := range req.Messages {
		switch msg.Role {
		case agent.RoleSystem:
			if strings.TrimSpace(msg.Content) != "" {
				in.System = append(in.System, &types.SystemContentBlockMemberText{Value: msg.Content})
			}
		case agent.RoleUser:
			add(types.ConversationRoleUser, text(msg.Content)...)
		case agent.RoleAssistant:
			if !native {
				if s := assistantText(msg); s != "(no reply)" {
					add(types.ConversationRoleAssistant, text(s)...)
				}
				continue
			}
			blocks := text(msg.Content)
			for _, tc := range msg.ToolCalls {
				var args map[string]any
				if err := json.Unmarshal([]byte(validArgs(tc.Arguments)), &args); err != nil || args == nil {
					args = map[string]any{}
				}
				blocks = append(blocks, &types.ContentBlockMemberToolUse{Value: types.ToolUseBlock{
					ToolUseId: aws.String(tc.ID), Name: aws.String(tc.Name), Input: document.NewLazyDocument(args)}})
			}
			add(types.ConversationRoleAssistant, blocks...)
		case agent.RoleTool:
			if !native {
				add(types.ConversationRoleUser, text(fmt.Sprintf("Result of tool %s (%s):\n%s", msg.Name, msg.ToolCallID, msg.Content))...)
				continue
			}
			// No status: the agent's results carry none, and Converse
			// takes one only for Claude.
			content := msg.Content
			if strings.TrimSpace(content) == "" {
				content = "(no output)"
			}
			add(types.ConversationRoleUser, &types.ContentBlockMemberToolResult{Value: types.ToolResultBlock{
				ToolUseId: aws.String(msg.ToolCallID),
				Content:   []types.ToolResultContentBlock{&types.ToolResultContentBlockMemberText{Value: content}}}})
		}
	}
	if native {
		tc := &types.ToolConfiguration{}
		for _, s := range req.Tools {
			schema, err := schemaDocument(s.Parameters)
			if err != nil {
				return nil, fmt.Errorf("tool %s: %w", s.Name, err)
			}
			tc.Tools = append(tc.Tools, &types.ToolMemberToolSpec{Value: types.ToolSpecification{
				Name: aws.String(s.Name), Description: aws.String(s.Description),
				InputSchema: &types.ToolInputSchemaMemberJson{Value: schema}}})
		}
		in.ToolConfig = tc
	}
	var ic types.InferenceConfiguration
	if req.MaxTokens > 0 {
		ic.MaxTokens = aws.Int32(int32(min(req.MaxTokens, 1<<31-1)))
	}
	if req.Temperature != nil {
		ic.Temperature = aws.Float32(float32(*req.Temperature))
	}
	ic.StopSequences = req.Stop
	if ic.MaxTokens != nil || ic.Temperature != nil || len(ic.StopSequences) > 0 {
		in.InferenceConfig = &ic
	}
	return in, nil
}

// schemaDocument turns a tool's parameters into the JSON schema document
// Converse takes, by way of its JSON so that the schema's own field names
// are the ones sent. Converse wants an object even for a tool that takes
// nothing.
func schemaDocument(s *tools.Schema) (document.Interface, error) {
	schema := map[string]any{"type": "object", "properties": map[string]any{}}
	if s != nil {
		raw, err := json.Marshal(s)
		if err != nil {
			return nil, fmt.Errorf("encode the parameters' schema: %w", err)
		}
		schema = map[string]any{}
		if err := json.Unmarshal(raw, &schema); err != nil {
			return nil, fmt.Errorf("decode the parameters' schema: %w", err)
		}
	}
	return document.NewLazyDocument(schema), nil
}

// response reads Converse's reply: its text blocks joined, its tool uses
// as calls with their input as JSON. A reply cut at max_tokens is returned
// as it is, with that finish reason.
func (b *BedrockModel) response(out *bedrockruntime.ConverseOutput) (agent.Response, error) {
	msg, ok := out.Output.(*types.ConverseOutputMemberMessage)
	if !ok {
		return agent.Response{}, fmt.Errorf("%s: Bedrock's Converse reply holds no message (output %T)", b.model, out.Output)
	}
	res := agent.Response{Model: b.model, FinishReason: string(out.StopReason)}
	res.Message.Role = agent.RoleAssistant
	var texts []string
	for _, block := range msg.Value.Content {
		switch c := block.(type) {
		case *types.ContentBlockMemberText:
			if c.Value != "" {
				texts = append(texts, c.Value)
			}
		case *types.ContentBlockMemberToolUse:
			args := "{}"
			if c.Value.Input != nil {
				raw, err := c.Value.Input.MarshalSmithyDocument()
				if err != nil {
					return agent.Response{}, fmt.Errorf("%s: read the input of tool use %s: %w", b.model, aws.ToString(c.Value.ToolUseId), err)
				}
				args = string(raw)
			}
			res.Message.ToolCalls = append(res.Message.ToolCalls, agent.ToolCall{
				ID: aws.ToString(c.Value.ToolUseId), Name: aws.ToString(c.Value.Name), Arguments: args})
		}
	}
	res.Message.Content = strings.Join(texts, "\n")
	if u := out.Usage; u != nil {
		res.Usage = agent.Usage{InputTokens: int(aws.ToInt32(u.InputTokens)), OutputTokens: int(aws.ToInt32(u.OutputTokens))}
	}
	return res, nil
}

// awsAPIError is what the AWS SDK's service errors implement.
type awsAPIError interface {
	error
	ErrorCode() string
	ErrorMessage() string
}

var (
	// bedrockOverflow matches how Bedrock and its models say the prompt is
	// too long.
	bedrockOverflow = regexp.MustCompile(`(?i)(input is too long|prompt is too long|too many (input )?tokens|context (window|length))`)
	// bedrockNoTools matches how Converse refuses tools to a model without
	// tool use ("This model doesn't support tool use.").
	bedrockNoTools = regexp.MustCompile(`(?i)(does(n't| not) support tool|toolConfig.*(not supported|unsupported|not permitted)|(not supported|unsupported).*toolConfig)`)
)

// explainBedrock turns the SDK's errors ("operation error Bedrock Runtime:
// Converse, https response error StatusCode: 403, …") into ones that say
// what to change.
func explainBedrock(err error, model, where, region string, retries int) error {
	var api awsAPIError
	if !errors.As(err, &api) {
		return fmt.Errorf("calling Bedrock at %s: %w; check llm.region, llm.base_url and that AWS credentials are available (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or an instance or pod role)", where, err)
	}
	what := api.ErrorCode() + ": " + api.ErrorMessage()
	switch api.ErrorCode() {
	case "UnrecognizedClientException", "InvalidSignatureException", "IncompleteSignatureException",
		"MissingAuthenticationTokenException", "ExpiredTokenException", "InvalidClientTokenId", "SignatureDoesNotMatch":
		return fmt.Errorf("AWS rejected the credentials for Bedrock at %s (%s); check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN (or AWS_PROFILE), and that the clock is right: %w", where, what, err)
	case "AccessDeniedException":
		return fmt.Errorf("the AWS identity may not invoke model %q in %s (%s); grant it bedrock:InvokeModel on the model and enable the model under Bedrock → Model access: %w", model, region, what, err)
	case "ResourceNotFoundException":
		return fmt.Errorf("Bedrock in %s does not know model %q (%s); check llm.model and llm.region (newer models need an inference profile id such as us.anthropic.…): %w", region, model, what, err)
	case "ThrottlingException", "ServiceQuotaExceededException", "ModelNotReadyException", "TooManyRequestsException":
		return fmt.Errorf("Bedrock is throttling us (%s) after %d retries; wait and ask again, or raise the account's quota for %s: %w", what, retries, model, err)
	case "InternalServerException", "ServiceUnavailableException", "ModelTimeoutException", "ModelErrorException":
		return fmt.Errorf("Bedrock failed (%s) after %d retries; try again later: %w", what, retries, err)
	case "ValidationException":
		msg := api.ErrorMessage()
		switch {
		case strings.Contains(msg, "model identifier is invalid"):
			return fmt.Errorf("Bedrock in %s does not know model %q (%s); check llm.model and llm.region: %w", region, model, what, err)
		case bedrockOverflow.MatchString(msg):
			return fmt.Errorf("model %q on Bedrock: the request is longer than its context window (%s): %w", model, what, agent.ErrContextLength)
		case bedrockNoTools.MatchString(msg):
			return fmt.Errorf("model %q on Bedrock takes no tools (%s): %w", model, what, agent.ErrToolsUnsupported)
		}
		return fmt.Errorf("Bedrock rejected the request for model %q (%s): %w", model, what, err)
	}
	return fmt.Errorf("Bedrock at %s: %w", where, err)
}
