// Drive the Catapult-era Node client (node-bandwidth) the way an application does.
//
// `node drive.js SCENARIO` with TREBUCHET_URL, TREBUCHET_USER_ID, TREBUCHET_TOKEN and
// TREBUCHET_SECRET in the environment and the scenario's arguments as a JSON object on
// standard input.  It prints one JSON object: what the client returned, or the client's
// own error (type, status, message).  Paging uses the client's own `hasNextPage` and
// `getNextPage`, which follow the `Link` header's next URL.
"use strict";

const Bandwidth = require("node-bandwidth");

function client(secret) {
	return new Bandwidth({
		userId    : process.env.TREBUCHET_USER_ID,
		apiToken  : process.env.TREBUCHET_TOKEN,
		apiSecret : secret || process.env.TREBUCHET_SECRET,
		baseUrl   : process.env.TREBUCHET_URL
	});
}

async function send(args) {
	const params = { from: args.from, to: args.to };
	for (const key of [ "text", "media", "receiptRequested", "tag" ]) {
		if (args[key] !== undefined) {
			params[key] = args[key];
		}
	}
	const message = await client().Message.send(params);
	return { id: message.id };
}

async function bulk(args) {
	const results = await client().Message.sendMultiple(args.messages);
	return {
		results: results.map((item) => ({
			result  : item.result,
			id      : (item.message && item.message.id) || null,
			error   : item.error || null,
			message : item.message
		}))
	};
}

async function get(args) {
	return { message: await client().Message.get(args.id) };
}

async function listAll(args) {
	const params = {};
	for (const key of [ "from", "to", "fromDateTime", "direction", "state", "sortOrder", "size" ]) {
		if (args[key] !== undefined) {
			params[key] = args[key];
		}
	}
	let page = await client().Message.list(params);
	const messages = page.messages.slice();
	const links = [];
	let pages = 1;
	while (page.hasNextPage) {
		links.push(page.nextLink);
		page = await page.getNextPage();
		messages.push(...page.messages);
		pages += 1;
	}
	return { messages: messages, pages: pages, links: links };
}

async function failing(call) {
	try {
		await call();
	}
	catch (err) {
		return {
			error   : err.name || (err.constructor && err.constructor.name) || String(err),
			status  : err.statusCode,
			message : err.message,
			limitReset : err.limitReset === undefined ? null : err.limitReset
		};
	}
	return { error: null };
}

function unknown(args) {
	return failing(() => client().Message.get(args.id));
}

function badCredentials(args) {
	return failing(() => client(args.secret).Message.list({ size: 5 }));
}

async function rateLimited() {
	const api = client();
	await api.Message.list({ size: 5 });
	return failing(() => api.Message.list({ size: 5 }));
}

const SCENARIOS = {
	send            : send,
	bulk            : bulk,
	get             : get,
	list            : listAll,
	unknown         : unknown,
	bad_credentials : badCredentials,
	rate_limited    : rateLimited
};

async function main() {
	const scenario = SCENARIOS[process.argv[2]];
	const chunks = [];
	for await (const chunk of process.stdin) {
		chunks.push(chunk);
	}
	const input = Buffer.concat(chunks).toString("utf8");
	const result = await scenario(input ? JSON.parse(input) : {});
	process.stdout.write(JSON.stringify(result));
}

main().catch((err) => {
	process.stderr.write(String((err && err.stack) || err) + "\n");
	process.exit(1);
});
