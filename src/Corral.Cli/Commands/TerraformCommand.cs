using System.CommandLine;
using Corral.Policy;
using Corral.Terraform;
using Corral.Terraform.Mapping;

namespace Corral.Cli.Commands;

/// <summary><c>corral terraform</c>: compile a policy into the Terraform module that deploys it on Aviatrix DCF in front of an Azure AI Foundry agent subnet.</summary>
internal static class TerraformCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var policy = CommonOptions.PolicyArgument();
        var output = new Option<string>("--output", "-o") { Description = "The folder to write the module into", Required = true };
        var gateway = new Option<string>("--gateway") { Description = "standalone: the spoke egresses itself; transit: attach it to an existing Aviatrix transit", DefaultValueFactory = _ => "standalone" };
        gateway.AcceptOnlyFromAmong("standalone", "transit");
        var transitGw = new Option<string?>("--transit-gw") { Description = "The transit gateway to attach to (with --gateway transit); otherwise a module variable" };
        var ruleset = new Option<string>("--ruleset") { Description = "dcf-ruleset (attached before UI-managed rules) or policy-list (owns the controller's whole list)", DefaultValueFactory = _ => "dcf-ruleset" };
        ruleset.AcceptOnlyFromAmong("dcf-ruleset", "policy-list");
        var controller = new Option<string>("--controller") { Description = "The Aviatrix controller's release line: the provider is pinned to it (~> 8.2.0 or ~> 9.0.0); per-rule decryption needs 9.0", DefaultValueFactory = _ => "9.0" };
        controller.AcceptOnlyFromAmong("8.2", "9.0");

        var command = new Command("terraform", "Write the Terraform module (Aviatrix DCF + azurerm) that deploys a policy") { policy, output, gateway, transitGw, ruleset, controller };
        command.SetAction(parse =>
        {
            var mode = parse.GetValue(gateway) == "transit" ? GatewayMode.Transit : GatewayMode.Standalone;
            var transitName = parse.GetValue(transitGw);
            if (transitName is not null && mode != GatewayMode.Transit)
            {
                stderr.WriteLine("corral terraform: --transit-gw needs --gateway transit");
                return CorralCommand.UsageError;
            }
            if (transitName is not null && string.IsNullOrWhiteSpace(transitName))
            {
                stderr.WriteLine("corral terraform: --transit-gw needs a gateway name");
                return CorralCommand.UsageError;
            }

            var policyPath = parse.GetValue(policy)!;
            var result = PolicyChecker.CheckFile(policyPath);
            if (!result.Succeeded)
            {
                // A policy that does not check is never half-exported: no file is written.
                CommonOptions.WriteDiagnostics(stderr, result.Diagnostics.Where(d => d.IsError));
                stderr.WriteLine($"{policyPath}: {result.ErrorCount} error(s); no module written (fix them with '{CommonOptions.InvokedAs} check' first)");
                return CorralCommand.InputError;
            }

            var options = new TerraformOptions
            {
                Gateway = mode,
                TransitGatewayName = transitName,
                Ruleset = parse.GetValue(ruleset) == "policy-list" ? RulesetKind.PolicyList : RulesetKind.DcfRuleset,
                Controller = parse.GetValue(controller) == "8.2" ? ControllerRelease.V8_2 : ControllerRelease.V9_0,
            };
            var module = TerraformExporter.Export(result.Compiled!, options);
            var directory = parse.GetValue(output)!;
            if (!module.Succeeded)
            {
                CommonOptions.WriteDiagnostics(stderr, module.Errors);
                stderr.WriteLine($"{policyPath}: {module.Errors.Count} error(s) for Aviatrix; no module written");
                return CorralCommand.InputError;
            }
            try
            {
                module.WriteTo(directory);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                stderr.WriteLine($"corral terraform: cannot write {directory}: {ex.Message}");
                return CorralCommand.InputError;
            }
            foreach (var warning in module.Warnings) stderr.WriteLine(warning);
            foreach (var (name, _) in module.Files) stdout.WriteLine($"wrote {Path.Combine(directory, name)}");
            stdout.WriteLine($"{module.Warnings.Count} thing(s) Corral enforces that Aviatrix cannot are listed above and in {Path.Combine(directory, "README.md")}");
            stdout.WriteLine($"next: cd {directory} && cp terraform.tfvars.example terraform.tfvars (set instance_name and the inputs) && terraform init && terraform plan");
            return CorralCommand.Ok;
        });
        return command;
    }
}
