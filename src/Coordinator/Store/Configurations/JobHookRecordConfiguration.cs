using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Activations.Coordinator.Store.Configurations;

sealed class JobHookRecordConfiguration : IEntityTypeConfiguration<JobHookRecord>
{
    public void Configure(EntityTypeBuilder<JobHookRecord> hook)
    {
        hook.ToTable("job_hooks");
        hook.HasKey(h => new { h.JobId, h.Hook });
        hook.Property(h => h.JobId).HasColumnName("job_id");
        hook.Property(h => h.Hook).HasColumnName("hook").HasMaxLength(64);
        hook.Property(h => h.Width).HasColumnName("width");
        hook.HasOne<JobRecord>().WithMany().HasForeignKey(h => h.JobId).OnDelete(DeleteBehavior.Cascade);
    }
}
