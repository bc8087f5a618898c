// The Vercel AI SDK's Anthropic provider against the gateway, with its defaults
// (max_tokens 128000 for a model id it does not know). Prints one JSON line.
import { createAnthropic } from '@ai-sdk/anthropic';
import { generateText, streamText } from 'ai';

const anthropic = createAnthropic({ baseURL: process.env.GATEWAY_URL + '/v1', apiKey: 'any' });
const model = anthropic(process.env.MODEL);
const prompt = process.env.PROMPT;
const out = {};
try {
  const r = await generateText({ model, prompt, maxRetries: 0 });
  out.text = r.text;
  out.finishReason = r.finishReason;
  const s = streamText({ model, prompt, maxRetries: 0, onError: ({ error }) => { out.streamError = String(error); } });
  let streamed = '';
  for await (const part of s.textStream) streamed += part;
  out.streamed = streamed;
} catch (e) {
  out.error = String(e && e.message || e);
}
console.log(JSON.stringify(out));
