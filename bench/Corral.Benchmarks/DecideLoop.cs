using Corral.Policy.Compilation;
using Corral.Policy.Model;

namespace Corral.Benchmarks;

/// <summary>
/// <c>decide-loop N [foundry|big]</c>: a plain driver for instruction counting. It warms up (so tier-1 code runs),
/// then decides N flows of the Foundry mix (or of the big policy's 4,096 mixed flows). Run it under
/// <c>valgrind --tool=callgrind</c> with two values of N: the difference in instructions divided by the difference in
/// N is the cost of one decision, repeatable however loaded the machine is.
/// </summary>
internal static class DecideLoop
{
    public static int Run(long n, string which)
    {
        Flow[] flows;
        CompiledPolicy policy;
        if (which == "big")
        {
            var f = new BigPolicyFixture(4096);
            (policy, flows) = (f.Policy, f.Mixed);
        }
        else
        {
            var f = new FoundryFixture();
            (policy, flows) = (f.Policy, f.Mix);
        }
        var permits = 0L;
        // Warm-up long enough for tiered compilation (and its PGO) to install the final code before the measured loop.
        for (var round = 0; round < 20; round++)
        {
            for (var i = 0; i < Math.Max(1, 6000 / flows.Length); i++) // ~6,000 decisions a round
                foreach (ref readonly var flow in flows.AsSpan())
                    if (policy.Decide(flow).Action == RuleAction.Permit) permits++;
            Thread.Sleep(50);
        }
        var done = 0L;
        while (done < n)
            foreach (ref readonly var flow in flows.AsSpan())
            {
                if (policy.Decide(flow).Action == RuleAction.Permit) permits++;
                if (++done == n) break;
            }
        Console.WriteLine($"{which}: {n} measured decisions after warm-up; {permits} permits");
        return 0;
    }
}
