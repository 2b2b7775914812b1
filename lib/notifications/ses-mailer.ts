import type { SESv2Client } from '@aws-sdk/client-sesv2';
import { type Mail, type Mailer, MailRefusedError } from './mailer';

/**
 * Mail through Amazon SES v2 `SendEmail` (the real client, in AWS and against the local stack's
 * SES endpoint). A simple message carries our List-Unsubscribe headers itself. The configuration
 * set routes bounces and complaints to EventBridge (functions/events/on-email-feedback.ts).
 */
export class SesMailer implements Mailer {
  private client: Promise<SESv2Client> | undefined;

  constructor(private readonly options: { endpoint?: string; configurationSet?: string }) {}

  async send(mail: Mail): Promise<{ messageId: string }> {
    const { SendEmailCommand } = await import('@aws-sdk/client-sesv2');
    const client = await this.clientOnce();
    try {
      const { MessageId } = await client.send(
        new SendEmailCommand({
          FromEmailAddress: mail.from,
          Destination: { ToAddresses: [mail.to] },
          ConfigurationSetName: this.options.configurationSet,
          Content: {
            Simple: {
              Subject: { Data: mail.subject, Charset: 'UTF-8' },
              Body: { Text: { Data: mail.text, Charset: 'UTF-8' }, Html: { Data: mail.html, Charset: 'UTF-8' } },
              Headers: Object.entries(mail.headers).map(([Name, Value]) => ({ Name, Value })),
            },
          },
        }),
      );
      return { messageId: MessageId ?? '' };
    } catch (error) {
      // SES refuses these for this mail whatever the retry: a bad or suppressed address, content it
      // rejects. Anything else (throttling, a paused account, a missing configuration set) is ours
      // or passing: the email stays queued and is retried.
      const name = (error as Error).name;
      if (name === 'MessageRejected' || name === 'BadRequestException')
        throw new MailRefusedError(`${name}: ${(error as Error).message}`);
      throw error;
    }
  }

  private clientOnce(): Promise<SESv2Client> {
    this.client ??= import('@aws-sdk/client-sesv2').then(
      ({ SESv2Client }) => new SESv2Client({ ...(this.options.endpoint ? { endpoint: this.options.endpoint } : {}) }),
    );
    return this.client;
  }
}
