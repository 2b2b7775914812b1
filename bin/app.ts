/**
 * The CDK app: `npm run cdk -- deploy --all -c stage=dev` (ops), `npm run synth` (offline, here).
 * cdk-nag's AwsSolutions checks run on every synth; each acknowledged finding carries its reason.
 */
import { buildApp } from '../lib/infra/app';

buildApp().synth();
