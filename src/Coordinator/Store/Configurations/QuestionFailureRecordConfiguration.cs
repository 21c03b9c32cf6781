using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Activations.Coordinator.Store.Configurations;

sealed class QuestionFailureRecordConfiguration : IEntityTypeConfiguration<QuestionFailureRecord>
{
    public void Configure(EntityTypeBuilder<QuestionFailureRecord> failure)
    {
        failure.ToTable("question_failures");
        failure.HasKey(f => new { f.JobId, f.QuestionIndex });
        failure.Property(f => f.JobId).HasColumnName("job_id");
        failure.Property(f => f.QuestionIndex).HasColumnName("question_index");
        failure.Property(f => f.Reason).HasColumnName("reason");
        failure.Property(f => f.Worker).HasColumnName("worker");
        failure.Property(f => f.RecordedAt).HasColumnName("recorded_at");
        failure.HasOne<QuestionRecord>().WithOne().HasForeignKey<QuestionFailureRecord>(f => new { f.JobId, f.QuestionIndex }).OnDelete(DeleteBehavior.Cascade);
    }
}
