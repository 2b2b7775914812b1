/** One email as this service sends it: text and HTML, and the headers SES adds (List-Unsubscribe). */
export interface Mail {
  to: string;
  from: string;
  subject: string;
  text: string;
  html: string;
  headers: Record<string, string>;
}

/** Where mail goes: SES v2 in AWS and in the local stack (lib/notifications/ses-mailer.ts). */
export interface Mailer {
  /** Resolves with the provider's message id; throws MailRefusedError when the mail can never be sent. */
  send(mail: Mail): Promise<{ messageId: string }>;
}

/** The provider refused this mail for good (a bad address, a suppressed recipient): not retried. */
export class MailRefusedError extends Error {
  override readonly name = 'MailRefusedError';
}
