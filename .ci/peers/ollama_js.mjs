// Drives the gateway with the official `ollama` npm client, as a JavaScript application would.
// Run by .ci/peers/ollama_js.py: OLLAMA_HOST is the gateway, GATEWAY_KEY its API key, MODEL the
// model it serves. Each check is named; a check fails on a thrown error or a false assertion.
// Results go to the JSON file named by the first argument: {"check name": "passed" | "failed"}.
import { writeFileSync } from 'node:fs'
import { Ollama } from 'ollama'

const host = process.env.OLLAMA_HOST
const key = process.env.GATEWAY_KEY
const model = process.env.MODEL
const client = new Ollama({ host, headers: { Authorization: `Bearer ${key}` } })
const greedy = { temperature: 0, num_predict: 32 }
const results = {}

function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`)
}

async function expectStatus(promise, status, fragment) {
  try {
    await promise
  } catch (err) {
    assert(err.name === 'ResponseError', `a ResponseError, got ${err.name}: ${err.message}`)
    assert(err.status_code === status, `status ${status}, got ${err.status_code}: ${err.message}`)
    if (fragment) assert(err.message.includes(fragment), `"${fragment}" in "${err.message}"`)
    return
  }
  throw new Error(`expected HTTP ${status}, the call succeeded`)
}

async function collect(iterator) {
  const parts = []
  for await (const part of iterator) parts.push(part)
  return parts
}

async function check(name, fn) {
  try {
    await fn()
    results[name] = 'passed'
    console.log(`ok     ${name}`)
  } catch (err) {
    results[name] = 'failed'
    console.log(`FAILED ${name}: ${err && err.stack ? err.stack : err}`)
  }
}

await check('version', async () => {
  const { version } = await client.version()
  assert(typeof version === 'string' && version.length > 0, 'a version string')
})

await check('list', async () => {
  const { models } = await client.list()
  const entry = models.find((m) => m.name === model)
  assert(entry, `${model} listed`)
  assert(entry.model === model, 'model field')
  assert(entry.size > 90e6, `size ${entry.size}`)
  assert(/^[0-9a-f]{64}$/.test(entry.digest), `digest ${entry.digest}`)
  assert(entry.details.parameter_size === '135M', `parameter_size ${entry.details.parameter_size}`)
  assert(entry.details.quantization_level === 'Q4_1', 'quantization_level')
})

await check('show', async () => {
  const shown = await client.show({ model })
  assert(shown.details.family === 'llama', `family ${shown.details.family}`)
  assert((shown.license || '').includes('Apache-2.0'), 'license')
  assert(shown.modelfile.includes('FROM '), 'modelfile')
  assert(shown.model_info['general.architecture'] === 'llama', 'model_info')
  assert(Array.isArray(shown.capabilities) && shown.capabilities.includes('completion'), 'capabilities')
})

await check('generate', async () => {
  const reply = await client.generate({ model, prompt: 'What is the capital of France?', options: greedy })
  assert(reply.response.includes('Paris'), `Paris in ${JSON.stringify(reply.response)}`)
  assert(reply.done === true && ['stop', 'length'].includes(reply.done_reason), 'done')
  assert(reply.eval_count > 0 && reply.eval_count <= 32, `eval_count ${reply.eval_count}`)
  assert(reply.prompt_eval_count > 0 && reply.total_duration > 0, 'counts and durations')
  assert(reply.model === model, 'model')
})

await check('generate streamed equals whole', async () => {
  const request = { model, prompt: 'What is the opposite of hot?', options: greedy }
  await client.generate(request) // first run: the prompt is now cached, as for the next two
  const whole = await client.generate(request)
  const parts = await collect(await client.generate({ ...request, stream: true }))
  const last = parts[parts.length - 1]
  assert(parts.length > 2, `${parts.length} parts`)
  assert(parts.slice(0, -1).every((p) => p.done === false), 'only the last part is done')
  assert(last.done === true && last.eval_count === whole.eval_count, 'final part with stats')
  assert(parts.map((p) => p.response).join('') === whole.response, 'same text')
})

await check('chat', async () => {
  const reply = await client.chat({
    model,
    messages: [{ role: 'user', content: 'What is the capital of Japan?' }],
    options: greedy,
  })
  assert(reply.message.role === 'assistant', 'assistant role')
  assert(reply.message.content.includes('Tokyo'), `Tokyo in ${JSON.stringify(reply.message.content)}`)
  assert(reply.done === true, 'done')
})

await check('chat streamed', async () => {
  const parts = await collect(
    await client.chat({
      model,
      messages: [
        { role: 'system', content: 'You are a helpful assistant.' },
        { role: 'user', content: 'What is the largest ocean on Earth?' },
      ],
      options: greedy,
      stream: true,
    }),
  )
  const text = parts.map((p) => p.message.content).join('')
  assert(text.includes('Pacific'), `Pacific in ${JSON.stringify(text)}`)
  assert(parts[parts.length - 1].done === true, 'done at the end')
})

await check('ps', async () => {
  const { models } = await client.ps()
  const entry = models.find((m) => m.name === model)
  assert(entry, `${model} loaded`)
  assert(entry.size > 0 && !Number.isNaN(Date.parse(entry.expires_at)), 'size and expiry')
})

await check('embed', async () => {
  const { embeddings, model: used } = await client.embed({ model, input: ['hello world', 'the sea is blue'] })
  assert(used === model, 'model')
  assert(embeddings.length === 2, `${embeddings.length} vectors`)
  assert(embeddings[0].length === 576 && embeddings[1].length === 576, 'dimension 576')
  for (const v of embeddings) {
    const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0))
    assert(Math.abs(norm - 1) < 1e-3, `unit length, got ${norm}`)
  }
  assert(embeddings[0].some((x, i) => x !== embeddings[1][i]), 'different texts, different vectors')
  const single = await client.embed({ model, input: 'hello world' })
  const same = single.embeddings[0].every((x, i) => Math.abs(x - embeddings[0][i]) < 1e-5)
  assert(same, 'the same text embeds the same alone and in a batch')
})

await check('abort one stream', async () => {
  const stream = await client.generate({
    model,
    prompt: 'Tell me a very long story about the sea.',
    options: { temperature: 0, num_predict: 200 },
    stream: true,
  })
  let parts = 0
  let aborted = false
  try {
    for await (const _ of stream) {
      parts += 1
      if (parts === 3) stream.abort()
    }
  } catch (err) {
    aborted = err.name === 'AbortError'
  }
  assert(aborted, 'the iteration ends with an AbortError')
  assert(parts === 3, `no part after the abort (${parts})`)
  const after = await client.generate({ model, prompt: 'Say hi.', options: { num_predict: 4 } })
  assert(after.done === true, 'the gateway still serves')
})

await check('abort every stream of a client', async () => {
  const other = new Ollama({ host, headers: { Authorization: `Bearer ${key}` } })
  const streams = await Promise.all(
    ['sea', 'sky'].map((topic) =>
      other.chat({
        model,
        messages: [{ role: 'user', content: `Write a long poem about the ${topic}.` }],
        options: { num_predict: 200 },
        stream: true,
      }),
    ),
  )
  const ends = streams.map(async (s) => {
    try {
      for await (const _ of s) other.abort()
      return 'completed'
    } catch (err) {
      return err.name
    }
  })
  const outcomes = await Promise.all(ends)
  assert(outcomes.every((o) => o === 'AbortError'), `outcomes ${outcomes}`)
})

await check('copy and delete', async () => {
  await client.copy({ source: model, destination: 'js-copy:latest' })
  let names = (await client.list()).models.map((m) => m.name)
  assert(names.includes('js-copy:latest'), 'copy listed')
  await client.delete({ model: 'js-copy:latest' })
  names = (await client.list()).models.map((m) => m.name)
  assert(!names.includes('js-copy:latest') && names.includes(model), 'copy gone, original kept')
})

await check('pull streamed', async () => {
  const parts = await collect(await client.pull({ model, stream: true }))
  assert(parts[parts.length - 1].status === 'success', `last status ${parts[parts.length - 1].status}`)
})

await check('unknown model is 404', async () => {
  await expectStatus(client.generate({ model: 'no-such-model:1b', prompt: 'x' }), 404, 'not found')
  await expectStatus(client.show({ model: 'no-such-model:1b' }), 404)
  await expectStatus(client.delete({ model: 'no-such-model:1b' }), 404)
})

await check('unknown model while streaming is 404', async () => {
  await expectStatus(
    client.chat({ model: 'no-such-model:1b', messages: [{ role: 'user', content: 'x' }], stream: true }),
    404,
  )
})

await check('wrong or missing key is 401', async () => {
  const wrong = new Ollama({ host, headers: { Authorization: 'Bearer not-the-key-0123456789' } })
  await expectStatus(wrong.list(), 401)
  await expectStatus(wrong.generate({ model, prompt: 'x' }), 401)
  const none = new Ollama({ host })
  await expectStatus(none.chat({ model, messages: [{ role: 'user', content: 'x' }] }), 401)
})

await check('malformed request is 400', async () => {
  await expectStatus(client.chat({ model, messages: 'not a list' }), 400)
  await expectStatus(client.generate({ model, prompt: 'x', options: { temperature: 'hot' } }), 400)
})

await check('images to a text model is 400', async () => {
  const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=='
  await expectStatus(
    client.chat({ model, messages: [{ role: 'user', content: 'What is this?', images: [png] }] }),
    400,
  )
})

await check('tools on a model whose template has none: 400 in Ollama\'s words', async () => {
  const tool = { type: 'function', function: { name: 'f', description: 'f', parameters: { type: 'object', properties: {} } } }
  await expectStatus(
    client.chat({ model, messages: [{ role: 'user', content: 'x' }], tools: [tool] }),
    400,
    'does not support tools',
  )
})

await check('keep_alive 0 unloads', async () => {
  const reply = await client.generate({ model, prompt: 'Hi', keep_alive: 0, options: { num_predict: 2 } })
  assert(reply.done === true, 'answered')
  for (let i = 0; i < 200; i += 1) {
    const { models } = await client.ps()
    if (!models.some((m) => m.name === model)) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error('the model stayed loaded after keep_alive 0')
})

writeFileSync(process.argv[2], JSON.stringify(results, null, 2))
const failed = Object.values(results).filter((r) => r !== 'passed').length
console.log(`\n${Object.keys(results).length - failed} passed, ${failed} failed`)
