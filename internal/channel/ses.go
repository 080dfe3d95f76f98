package channel

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
)

func init() { Register("ses", newSES) }

// ses sends the same text + HTML email as the SMTP channel through the
// Amazon SES v2 SendEmail API.
type ses struct {
	name   string
	client *sesv2.Client
	from   string
	to     []string
	set    string
	prefix string
}

type sesConfig struct {
	awsConfig        `yaml:",inline"`
	From             string   `yaml:"from"`
	To               []string `yaml:"to"`
	ConfigurationSet string   `yaml:"configuration_set"`
	SubjectPrefix    string   `yaml:"subject_prefix"`
}

func newSES(c Config, d Deps) (Channel, error) {
	var cfg sesConfig
	if err := c.Decode(&cfg); err != nil {
		return nil, err
	}
	from, to, err := emailAddresses(c, cfg.From, cfg.To)
	if err != nil {
		return nil, err
	}
	if err := cfg.validate(c, d); err != nil {
		return nil, err
	}
	prefix := cfg.SubjectPrefix
	if prefix == "" {
		prefix = "[rootwatch]"
	}
	client := sesv2.NewFromConfig(d.AWS, func(o *sesv2.Options) { cfg.apply(&o.Region, &o.BaseEndpoint, &o.Retryer) })
	return &ses{name: c.Name, client: client, from: from, to: to, set: cfg.ConfigurationSet, prefix: clean(prefix, 40)}, nil
}

func (s *ses) Name() string { return s.name }

func (s *ses) Send(ctx context.Context, n *Notification) (map[string]string, error) {
	subject, text, htmlBody := emailContent(s.prefix, n)
	utf8 := aws.String("UTF-8")
	in := &sesv2.SendEmailInput{
		FromEmailAddress: aws.String(s.from),
		Destination:      &types.Destination{ToAddresses: s.to},
		Content: &types.EmailContent{Simple: &types.Message{
			Subject: &types.Content{Data: aws.String(subject), Charset: utf8},
			Body: &types.Body{
				Text: &types.Content{Data: aws.String(text), Charset: utf8},
				Html: &types.Content{Data: aws.String(htmlBody), Charset: utf8},
			},
		}},
		EmailTags: []types.MessageTag{
			{Name: aws.String("kind"), Value: aws.String(string(n.Kind))},
		},
	}
	if s.set != "" {
		in.ConfigurationSetName = aws.String(s.set)
	}
	out, err := s.client.SendEmail(ctx, in)
	if err != nil {
		return nil, awsError(s.name, "ses send email", err)
	}
	if aws.ToString(out.MessageId) == "" {
		return nil, errNoMessageID(s.name, "ses send email")
	}
	return map[string]string{"message_id": aws.ToString(out.MessageId)}, nil
}
