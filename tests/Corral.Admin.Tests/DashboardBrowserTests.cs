using Corral.Admin.Tests.Support;
using Corral.Policy.Model;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;

namespace Corral.Admin.Tests;

/// <summary>
/// The dashboard in headless Debian chromium (Selenium + the distribution's chromedriver; nothing is downloaded):
/// would-be denials show under their watch-mode rule grouped by destination with a chart, Promote first shows what
/// enforcing would block, then (confirmed, with the token) enforces the rule, and the next such flow is blocked by
/// the gateway and shown as enforced. Chromium missing is a failure, not a skip: CI installs it.
/// </summary>
public sealed class DashboardBrowserTests
{
    private const string Chromium = "/usr/bin/chromium";
    private const string ChromeDriver = "/usr/bin/chromedriver";

    [Fact]
    public async Task Promoting_a_watch_rule_from_the_dashboard_blocks_the_next_flow()
    {
        Assert.True(File.Exists(Chromium) && File.Exists(ChromeDriver),
            $"{Chromium} and {ChromeDriver} are needed (apt-get install chromium chromium-driver; scripts/install-test-deps.sh does it)");
        await using var live = await LiveHarness.StartAsync();
        var browser = new BrowserSession();
        try
        {
            await PromoteFromTheDashboardAsync(live, browser.Driver);
        }
        finally
        {
            browser.Dispose();
        }
        // Chromium's temp files (its org.chromium.* folder among them) went to the session's own folder, and went with it.
        Assert.Contains(browser.SeenInTemp, name => name.StartsWith("org.chromium.", StringComparison.Ordinal) || name.StartsWith(".org.chromium.", StringComparison.Ordinal));
        Assert.False(Directory.Exists(browser.TempDirectory), $"{browser.TempDirectory} was left behind");
    }

    private static async Task PromoteFromTheDashboardAsync(LiveHarness live, ChromeDriver driver)
    {

        driver.Navigate().GoToUrl(live.Admin.BaseAddress);
        await UntilAsync(() => driver.FindElement(By.Id("policy-hash")).Text == live.Hash, "the page to show the policy hash");

        // Flows the watch-mode catch-all would deny: they go through, and show under that rule, one line per destination.
        Assert.Equal(200, await live.FlowAsync("other.test"));
        Assert.Equal(200, await live.FlowAsync("other.test"));
        var rule = By.CssSelector(".watch-rule[data-rule='deny-internet']");
        await UntilAsync(() => driver.FindElements(By.CssSelector(".watch-rule[data-rule='deny-internet'] .would-deny li")).Any(li =>
                li.GetAttribute("data-destination") == "other.test" && li.GetAttribute("data-count") == "2" && li.Text.Contains("2×")),
            "the would-be denials to appear under deny-internet as one line with a count");
        // The page re-renders every second: each look below reads one rendering whole (ReadAsync looks again if it changed).
        Assert.Equal(1, await ReadAsync(() => driver.FindElements(By.CssSelector(".watch-rule[data-rule='deny-internet'] .would-deny li")).Count));
        // The rule's chart counts both, over time.
        var (total, barCounts) = await ReadAsync(() =>
        {
            var chart = driver.FindElement(By.CssSelector(".watch-rule[data-rule='deny-internet'] svg.rule-chart"));
            return (chart.GetAttribute("data-total"), chart.FindElements(By.CssSelector("rect.bar")).Sum(b => int.Parse(b.GetAttribute("data-count")!)));
        });
        Assert.Equal("2", total);
        Assert.Equal(2, barCounts);
        Assert.True(await ReadAsync(() => driver.FindElements(By.CssSelector("#flows tbody tr")).Any(row =>
            row.GetAttribute("data-rule") == "deny-internet" && row.GetAttribute("data-enforced") == "false" && row.Text.Contains("other.test"))),
            "the would-be denial in the live flows");

        // Promote: the page first shows what enforcing would block (the replay of the remembered flows), nothing changes yet.
        // The button is the same element across refreshes, so a click is never lost to a re-render.
        driver.FindElement(By.CssSelector(".watch-rule[data-rule='deny-internet'] button.promote")).Click();
        await UntilAsync(() => driver.FindElement(By.Id("impact-box")).Displayed && driver.FindElement(By.Id("impact-box")).GetAttribute("data-blocked") == "4",
            "the impact of enforcing deny-internet");
        // Replay's count: each connection's decision and its request.
        Assert.Contains("would block 4", driver.FindElement(By.Id("impact-summary")).Text);
        var blocked = Assert.Single(driver.FindElements(By.CssSelector("#impact-destinations li")));
        Assert.Equal("other.test", blocked.GetAttribute("data-destination"));
        Assert.Equal(RuleMode.Watch, live.Gateway.Policy.Current.Document.Rules.Single(r => r.Name == "deny-internet").Mode);
        Assert.False(driver.FindElement(By.Id("token-box")).Displayed);

        // Confirmed: the page asks for the token once.
        driver.FindElement(By.Id("impact-confirm")).Click();
        await UntilAsync(() => driver.FindElement(By.Id("token-box")).Displayed, "the token box");
        driver.FindElement(By.Id("token-input")).SendKeys(LiveHarness.Token);
        driver.FindElement(By.Id("token-save")).Click();
        await UntilAsync(() => live.Gateway.Policy.Current.Document.Rules.Single(r => r.Name == "deny-internet").Mode == RuleMode.Enforce, "the promotion to reach the gateway");

        // The next such flow is denied by the gateway, and the dashboard shows it as enforced.
        Assert.Equal(403, await live.FlowAsync("other.test"));
        await UntilAsync(() => driver.FindElements(By.CssSelector("#flows tbody tr")).Any(row =>
            row.GetAttribute("data-rule") == "deny-internet" && row.GetAttribute("data-enforced") == "true" && row.GetAttribute("data-action") == "deny"),
            "the enforced denial in the live flows");
        await UntilAsync(() => driver.FindElements(rule).Count == 0, "deny-internet to leave the watch-mode list");
        Assert.Equal(live.Hash, driver.FindElement(By.Id("policy-hash")).Text);
        Assert.Contains("action: deny, mode: enforce", File.ReadAllText(live.PolicyPath));
        Assert.True(driver.FindElement(By.Id("reload-error")).GetAttribute("hidden") is not null);
    }

    /// <summary>
    /// Chromium and its driver with a temp folder of their own (profile and TMPDIR), removed when the session ends:
    /// chromium otherwise leaves an org.chromium.* folder in the shared temp directory.
    /// </summary>
    private sealed class BrowserSession : IDisposable
    {
        public string TempDirectory { get; } = Directory.CreateTempSubdirectory("corral-chromium-").FullName;
        public ChromeDriver Driver { get; }
        public IReadOnlyList<string> SeenInTemp { get; private set; } = [];

        public BrowserSession()
        {
            Environment.SetEnvironmentVariable("SE_OFFLINE", "true"); // never let Selenium Manager reach the network
            var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(ChromeDriver)!, Path.GetFileName(ChromeDriver));
            service.SuppressInitialDiagnosticInformation = true;
            service.HideCommandPromptWindow = true;
            // The driver's environment is the browser's: both make their temp files under the session's folder.
            service.DriverProcessStarting += (_, e) => e.DriverServiceProcessStartInfo.Environment["TMPDIR"] = TempDirectory;
            var options = new ChromeOptions { BinaryLocation = Chromium };
            options.AddArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-proxy-server", "--no-first-run",
                "--disable-extensions", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--metrics-recording-only",
                $"--user-data-dir={Path.Combine(TempDirectory, "profile")}");
            Driver = new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
        }

        public void Dispose()
        {
            SeenInTemp = Directory.EnumerateFileSystemEntries(TempDirectory).Select(Path.GetFileName).ToList()!;
            Driver.Dispose(); // quits chromium and stops the driver
            Directory.Delete(TempDirectory, recursive: true);
        }
    }

    /// <summary>Reads the page, again when it re-rendered under the read (a stale element), for up to 20 s.</summary>
    private static async Task<T> ReadAsync<T>(Func<T> read)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            try
            {
                return read();
            }
            catch (StaleElementReferenceException) when (DateTime.UtcNow < deadline) { }
            await Task.Delay(100);
        }
    }

    private static async Task UntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            try
            {
                if (condition()) return;
            }
            catch (StaleElementReferenceException) { } // the page re-rendered under us; look again
            catch (NoSuchElementException) { }
            if (DateTime.UtcNow > deadline) Assert.Fail($"timed out waiting for {what}");
            await Task.Delay(100);
        }
    }
}
