using Microsoft.AspNetCore.DataProtection;

namespace Sidecar.Forwarding;

/// <summary>
/// In-memory data protection whose key is made when something is first protected. YARP takes a protector for
/// session affinity cookies when it builds its services, whether or not any cluster uses affinity, and an
/// ephemeral provider makes its key in its constructor: that alone loaded OpenSSL into every sidecar at start-up.
/// </summary>
public sealed class DeferredDataProtectionProvider(ILoggerFactory loggers) : IDataProtectionProvider
{
    private readonly Lazy<IDataProtectionProvider> _provider = new(() => new EphemeralDataProtectionProvider(loggers));

    public IDataProtector CreateProtector(string purpose) => new DeferredProtector(() => _provider.Value.CreateProtector(purpose));

    private sealed class DeferredProtector(Func<IDataProtector> create) : IDataProtector
    {
        private readonly Lazy<IDataProtector> _protector = new(create);

        public IDataProtector CreateProtector(string purpose) => new DeferredProtector(() => _protector.Value.CreateProtector(purpose));

        public byte[] Protect(byte[] plaintext) => _protector.Value.Protect(plaintext);

        public byte[] Unprotect(byte[] protectedData) => _protector.Value.Unprotect(protectedData);
    }
}
