/**
 * `npm run soak`: the long fault run (issue 8). A placeholder until the agent daemon
 * (`understudy agent`) exists: the soak puts one agent per lab site (test/fault/lab/netns.ts), drives a
 * replicated key-value guest with a client, plays a long nemesis schedule (lab/nemesis.ts) and judges
 * the run with lab/checker.ts. Until then it says so and exits 0.
 */
console.log('soak: needs the agent daemon (understudy agent), which is not written yet; nothing to run.')
console.log('The fault lab harness is ready: test/fault/lab (see test/fault/README.md).')
